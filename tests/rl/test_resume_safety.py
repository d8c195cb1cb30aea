"""Resuming is safe and honest: no pickle anywhere in a checkpoint, a changed manifest or model is
refused by name unless accepted, paths are absolute (resume works from another directory), a torn
metrics line and half-written checkpoint folders left by a crash are cleaned up, and a non-finite
loss stops the run before anything is saved."""

import json

import pytest
import torch
import yaml
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.rl.checkpoint import list_checkpoints
from cocoedit.rl.config import load_config
from cocoedit.rl.logging import read_metrics
from cocoedit.rl.step import NonFiniteError
from cocoedit.rl.trainer import CocoEditTrainer
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline
from cocoedit.testing.trainer import tiny_training_config

runner = CliRunner()


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A finished 2-step run started from ``tmp_path`` with relative paths; returns its folder."""
    monkeypatch.chdir(tmp_path)
    save_tiny_pipeline("kontext", tmp_path / "model")
    make_sample_manifest(tmp_path / "ds", samples=4, size=(64, 64))
    config = tiny_training_config("model", "ds/manifest.jsonl", train={"epochs": 2, "checkpoint_every": 1})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", "--config", "config.yaml", "--run-dir", "run"])
    assert result.exit_code == 0, result.output
    return tmp_path / "run"


def resume(run_dir, *extra):
    return runner.invoke(app, ["train", "--resume", "--run-dir", str(run_dir), "--set", "train.epochs=3", *extra])


@pytest.mark.slow
def test_checkpoints_hold_no_pickle_and_resume_loads_none(run, monkeypatch):
    files = sorted(p.name for p in (run / "checkpoints" / "step-000002").iterdir())
    assert files == ["checkpoint.json", "lora", "trainer_state.json", "trainer_state.safetensors"]
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("resume called torch.load"))
    assert resume(run).exit_code == 0


@pytest.mark.slow
def test_paths_are_absolute_so_resume_works_from_elsewhere(run, tmp_path, monkeypatch):
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["path"] == str(tmp_path / "model")
    assert saved["data"]["manifest"] == str(tmp_path / "ds" / "manifest.jsonl")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = resume(run)
    assert result.exit_code == 0, result.output
    assert read_metrics(run)[-1]["step"] == 3


@pytest.mark.slow
def test_a_changed_manifest_or_model_is_refused_by_name_unless_accepted(run, tmp_path):
    manifest = tmp_path / "ds" / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(reversed(lines)) + "\n")  # same rows, other order: other content
    result = resume(run)
    assert result.exit_code == 2 and str(manifest) in result.output and "--accept-changed data" in result.output
    config_json = tmp_path / "model" / "transformer" / "config.json"
    config_json.write_text(config_json.read_text().replace("{", '{"_note": "edited",', 1))
    result = resume(run, "--accept-changed", "data")
    assert result.exit_code == 2 and "the model changed" in result.output and "transformer/config.json" in result.output
    result = resume(run, "--accept-changed", "data", "--accept-changed", "model")
    assert result.exit_code == 0, result.output
    assert resume(run, "--set", "train.epochs=4").exit_code == 0  # the accepted state is the run's now


@pytest.mark.slow
def test_a_crash_leftover_is_cleaned_up_on_resume(run):
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 3, "loss/pol')  # torn by a kill mid-write
    (run / "checkpoints" / ".tmp-step-000003-4242").mkdir()
    assert [r["step"] for r in read_metrics(run)] == [1, 2]  # readers skip the torn line
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0
    result = resume(run)
    assert result.exit_code == 0, result.output
    assert not list((run / "checkpoints").glob(".tmp-*"))
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]


@pytest.mark.slow
def test_a_non_finite_loss_stops_before_anything_is_saved(tmp_path):
    save_tiny_pipeline("kontext", tmp_path / "model")
    manifest = make_sample_manifest(tmp_path / "ds", samples=4, size=(64, 64))
    config = load_config(
        None, [], base=tiny_training_config(tmp_path / "model", manifest, train={"epochs": 2, "checkpoint_every": 1})
    )
    trainer = CocoEditTrainer.from_config(config, tmp_path / "run")
    with torch.no_grad():
        trainer.current[1].fill_(float("inf"))  # a lora_B matrix: the current policy's output blows up
    with pytest.raises(NonFiniteError, match=r"the loss is (nan|inf) at micro-batch 1/2, timestep pass 1/1"):
        trainer.train()
    assert list_checkpoints(tmp_path / "run" / "checkpoints") == []
