"""A full disk during ``cocoedit train`` is one line, not a traceback; nothing half-written is
left where a resume would read it; and once space is freed, ``--resume`` continues from the last
complete checkpoint to the end. The disk fills up when the step-4 checkpoint's tensors are being
written (the first bytes land, then ENOSPC), as it would on a real full file system."""

import errno
import json

import pytest
import safetensors.torch
import yaml
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.rl.checkpoint import list_checkpoints
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline
from cocoedit.testing.trainer import tiny_training_config


@pytest.fixture
def config_file(tmp_path):
    model = save_tiny_pipeline("kontext", tmp_path / "model")
    manifest = make_sample_manifest(tmp_path / "ds", samples=4, size=(64, 64))
    config = tiny_training_config(model, manifest, train={"epochs": 4, "checkpoint_every": 2})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_resume_finishes_the_run(config_file, tmp_path, monkeypatch):
    run = tmp_path / "run"
    real_save_file = safetensors.torch.save_file

    def save_file(tensors, filename, *args, **kwargs):
        if "step-000004" in str(filename):  # the second checkpoint: the disk is full
            with open(filename, "wb") as out:
                out.write(b"\x00" * 64)
            raise OSError(errno.ENOSPC, "No space left on device", str(filename))
        return real_save_file(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--config", str(config_file), "--run-dir", str(run)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "no space left" in error[0] and "run the same command again" in error[0]
    assert [step for step, _ in list_checkpoints(run / "checkpoints")] == [2]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000002"]  # no partial folder

    monkeypatch.undo()  # space freed
    resumed = runner.invoke(app, ["train", "--resume", "--run-dir", str(run)])
    assert resumed.exit_code == 0, resumed.output
    assert [step for step, _ in list_checkpoints(run / "checkpoints")] == [2, 4]
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
