"""Same config, same run: ``cocoedit train`` in fresh processes (nothing seeded by hand) gives
bitwise-equal adapters twice, and a run killed with SIGKILL at random points, several times, and
resumed each time ends bitwise equal to the uninterrupted one."""

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch
import yaml

from cocoedit.rl.checkpoint import latest_checkpoint, read_trainer_state
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline
from cocoedit.testing.trainer import tiny_training_config

EPOCHS = 10
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("repro")
    model = save_tiny_pipeline("kontext", root / "model")
    manifest = make_sample_manifest(root / "ds", samples=6, size=(64, 64))
    config = tiny_training_config(
        model,
        manifest,
        sampling={"group_size": 3, "batch_size": 3, "steps": 3},
        reward={
            "components": [
                {"name": "pixel", "weight": 0.5},
                {"name": "brightness", "function": "cocoedit.testing.trainer:brightness", "weight": 0.5},
            ]
        },
        optim={"lr": 1e-3, "train_batch_size": 3},
        train={
            "epochs": EPOCHS,
            "checkpoint_every": 1,
            "keep_last": 2,
            "validate_every": 100,
            "sample_grid_every": 100,
        },
    )
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _command(config_file, run_dir):
    if (run_dir / "config.yaml").is_file():
        return [sys.executable, "-m", "cocoedit", "train", "--run-dir", str(run_dir), "--resume"]
    return [sys.executable, "-m", "cocoedit", "train", "--run-dir", str(run_dir), "--config", str(config_file)]


def _train(config_file, run_dir):
    result = subprocess.run(_command(config_file, run_dir), env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def _final(run_dir):
    state = read_trainer_state(latest_checkpoint(run_dir / "checkpoints"))
    assert state.step == EPOCHS
    return state


def _assert_bitwise_equal(a, b):
    for key in ("current", "old"):
        x, y = getattr(a, key), getattr(b, key)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), key
    ma, mb = a.optimizer["state"], b.optimizer["state"]
    assert ma.keys() == mb.keys()
    for k in ma:
        for field in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(ma[k][field], mb[k][field]), (k, field)
    assert a.banned == b.banned


@pytest.mark.slow
def test_two_runs_of_one_config_are_bitwise_equal(config_file, tmp_path):
    _train(config_file, tmp_path / "a")
    _train(config_file, tmp_path / "b")
    a, b = _final(tmp_path / "a"), _final(tmp_path / "b")
    _assert_bitwise_equal(a, b)
    assert any(t.abs().sum() > 0 for k, t in a.current.items() if "lora_B" in k)  # it trained


def _run_and_kill(config_file, run_dir, rng) -> bool:
    """Start (or resume) the run; once it logs a training step, SIGKILL it after a random delay.
    Returns whether it was killed (False: it finished first)."""
    process = subprocess.Popen(
        _command(config_file, run_dir), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    stepped = threading.Event()

    def watch():
        for line in process.stderr:
            if "train:" in line:
                stepped.set()

    threading.Thread(target=watch, daemon=True).start()
    while not stepped.is_set() and process.poll() is None:
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 0.8))
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    return killed


@pytest.mark.slow
def test_runs_killed_at_random_points_resume_to_the_uninterrupted_result(config_file, tmp_path):
    _train(config_file, tmp_path / "whole")
    rng = random.Random(20261202)
    run_dir, kills = tmp_path / "killed", 0
    for _ in range(12):
        if not _run_and_kill(config_file, run_dir, rng):
            break
        kills += 1
        if kills >= 3 and latest_checkpoint(run_dir / "checkpoints") is not None:
            break
    assert kills >= 3
    _train(config_file, run_dir)  # resume to the end
    _assert_bitwise_equal(_final(tmp_path / "whole"), _final(run_dir))
    assert not list((run_dir / "checkpoints").glob(".tmp-*"))
    steps = [line for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) >= EPOCHS  # a resumed step logs again; the reader keeps the last
