"""Atomic checkpoints, pruning that keeps the best, RNG capture, config differences."""

import random

import numpy as np
import pytest
import torch

from cocoedit.rl.checkpoint import (
    best_checkpoint,
    capture_rng_state,
    latest_checkpoint,
    list_checkpoints,
    restore_rng_state,
    save_checkpoint,
)
from cocoedit.rl.fingerprint import config_differences


def writer(value):
    def write(folder):
        torch.save({"value": value}, folder / "state.pt")

    return write


def test_keep_last_and_best(tmp_path):
    scores = {10: 0.5, 20: 0.9, 30: 0.4, 40: 0.6, 50: 0.3}
    for step, score in scores.items():
        save_checkpoint(tmp_path, step, writer(step), keep_last=2, score=score)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 40, 50]
    assert best_checkpoint(tmp_path).name == "step-000020"
    assert latest_checkpoint(tmp_path).name == "step-000050"
    assert torch.load(latest_checkpoint(tmp_path) / "state.pt")["value"] == 50


def test_a_crash_while_writing_leaves_no_checkpoint(tmp_path):
    save_checkpoint(tmp_path, 1, writer(1))

    def crash(folder):
        (folder / "partial.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(tmp_path, 2, crash)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000001"]


def test_rng_state_round_trips():
    state = capture_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_config_differences_name_keys_and_skip_allowed():
    saved = {"optim": {"lr": 3e-4, "clip": 1.0}, "train": {"epochs": 10, "log_every": 1}}
    current = {"optim": {"lr": 1e-4, "clip": 1.0}, "train": {"epochs": 20, "log_every": 5}}
    assert config_differences(saved, current, may_change=["train.epochs", "train.log_every"]) == [
        "optim.lr: 0.0003 -> 0.0001"
    ]
    assert config_differences(saved, current, may_change=["train.", "optim."]) == []
