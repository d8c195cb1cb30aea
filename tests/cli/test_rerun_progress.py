"""Progress lines of a re-run count only the work done now: `edit --manifest` over outputs that
exist counts them as already done (in the count, never in the rate) and says how many it skipped;
`train --resume` starts its count at the restored step."""

import os

import pytest
import yaml
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline
from cocoedit.testing.trainer import tiny_training_config

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_pipeline("kontext", tmp_path_factory.mktemp("model") / "kontext")


def progress_lines(output: str, task: str) -> list[str]:
    return [line.split(" ", 2)[2] for line in output.splitlines() if line.count(" ") > 2 and f" {task}: " in line]


def test_an_edit_rerun_counts_finished_outputs_as_skipped_not_in_the_rate(model, tmp_path):
    manifest = make_sample_manifest(tmp_path / "ds", samples=3, size=(32, 32))
    args = ["edit", "--model", str(model), "--manifest", str(manifest), "--out", str(tmp_path / "out"), "--steps", "1"]
    assert CliRunner().invoke(app, args).exit_code == 0
    sorted((tmp_path / "out").glob("*.png"))[0].unlink()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 written, 2 skipped (already done)" in result.output
    last = progress_lines(result.output, "editing")[-1]
    assert last.startswith("editing: 3/3 images (100%) done in ") and last.endswith("(2 skipped, already done)")
    assert "images/s" not in last and "per image" not in last  # one image edited is no rate


def test_resuming_a_finished_run_starts_the_count_at_its_step(model, tmp_path):
    manifest = make_sample_manifest(tmp_path / "ds", samples=2, size=(64, 64))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_training_config(model, manifest)))
    run = ["--run-dir", str(tmp_path / "run")]
    assert CliRunner().invoke(app, ["train", "--config", str(config), *run]).exit_code == 0
    result = CliRunner().invoke(app, ["train", "--resume", *run])
    assert result.exit_code == 0, result.output
    lines = progress_lines(result.output, "train")
    assert len(lines) == 1 and lines[0].startswith("train: 1/1 steps (100%) done in ")
    assert lines[0].endswith("(1 done before --resume)")
