"""`cocoedit train` and `cocoedit report` from the command line, on files a user would make."""

import json

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_train_resume_and_report_from_the_cli(tmp_path):
    assert (
        runner.invoke(app, ["dev", "make-tiny", "--backbone", "kontext", "--out", str(tmp_path / "model")]).exit_code
        == 0
    )
    assert runner.invoke(app, ["dev", "make-dataset", "--out", str(tmp_path / "data"), "--samples", "6"]).exit_code == 0
    common = [
        "--set",
        f"model.path={tmp_path / 'model'}",
        "--set",
        f"data.manifest={tmp_path / 'data' / 'manifest.jsonl'}",
        "--set",
        f"data.validation_manifest={tmp_path / 'data' / 'manifest.jsonl'}",
        "--set",
        "sampling.prompts_per_epoch=2",
        "--set",
        "sampling.group_size=2",
        "--set",
        "sampling.steps=2",
        "--set",
        "train.report_to=[]",
    ]
    run = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "--config", "tiny", "--run-dir", str(run), *common, "--set", "train.epochs=2"]
    )
    assert result.exit_code == 0, result.output
    assert f"run: {run}" in result.stdout
    result = runner.invoke(app, ["train", "--resume", "--run-dir", str(run), "--set", "train.epochs=3"])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "run_info.json").read_text())["backbone"] == "kontext"
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 3
    result = runner.invoke(app, ["train", "--resume", "--run-dir", str(run), "--set", "optim.lr=0.1"])
    assert result.exit_code == 2 and "optim.lr" in result.output
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0 and (run / "report.html").stat().st_size > 10_000
    # The trained adapter edits through `cocoedit edit`.
    source = sorted((tmp_path / "data" / "images").iterdir())[0]
    result = runner.invoke(
        app,
        [
            "edit",
            "--model",
            str(tmp_path / "model"),
            "--image",
            str(source),
            "--prompt",
            "make it blue",
            "-o",
            str(tmp_path / "edited.png"),
            "--lora",
            str(run / "checkpoints" / "step-000003" / "lora"),
            "--steps",
            "2",
            "--size",
            "64",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "edited.png").is_file()


def test_train_needs_a_config(tmp_path):
    result = runner.invoke(app, ["train", "--run-dir", str(tmp_path)])
    assert result.exit_code == 2 and "give --config PRESET|FILE" in result.output
    result = runner.invoke(app, ["train", "--run-dir", str(tmp_path), "--config", "tiny", "--set", "optim.lrr=1"])
    assert result.exit_code == 2 and "did you mean 'optim.lr'" in result.output
