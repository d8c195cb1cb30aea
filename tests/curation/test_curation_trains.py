"""A curated manifest trains with `cocoedit train` as it is (one epoch of a tiny Kontext editor)."""

import json

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.curation.build import run_build
from cocoedit.curation.config import BuildConfig

runner = CliRunner()


@pytest.mark.slow
def test_curated_manifest_trains(candidates, tmp_path):
    out = tmp_path / "curated"
    run_build(BuildConfig.model_validate({"augment": {"by_type": {"replace": {"dilate_px": 2}}}}), candidates, out)
    assert (
        runner.invoke(app, ["dev", "make-tiny", "--backbone", "kontext", "--out", str(tmp_path / "model")]).exit_code
        == 0
    )
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            "tiny",
            "--run-dir",
            str(run),
            "--set",
            f"model.path={tmp_path / 'model'}",
            "--set",
            f"data.manifest={out / 'manifest.jsonl'}",
            "--set",
            "data.validation_manifest=null",
            "--set",
            "sampling.prompts_per_epoch=2",
            "--set",
            "sampling.group_size=2",
            "--set",
            "sampling.steps=2",
            "--set",
            "train.report_to=[]",
            "--set",
            "train.epochs=1",
        ],
    )
    assert result.exit_code == 0, result.output
    [metrics] = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics["step"] == 1
