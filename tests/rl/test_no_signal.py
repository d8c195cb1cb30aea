"""A run that cannot learn says so: with a reward that never differs inside a group the trainer
stops after advantage.no_signal_steps steps with one line naming the measured std, the threshold
and the settings that raise diversity; the signal's diagnostics are in metrics.jsonl every step."""

import math

import pytest
import torch

from cocoedit.rewards.base import RewardBatch
from cocoedit.rl.diagnostics import NoSignalError
from cocoedit.rl.logging import read_metrics
from cocoedit.rl.trainer import CocoEditTrainer


def constant(inputs):
    return RewardBatch(torch.full((len(inputs),), 0.5), torch.ones(len(inputs), dtype=torch.bool))


def test_a_reward_without_spread_stops_the_run(make_backbone, make_config, train_samples, tmp_path):
    cfg = make_config(
        reward={"components": [{"name": "constant"}]},
        sampling={"prompts_per_epoch": 1, "group_size": 2, "batch_size": 2, "steps": 2},
        advantage={"std_threshold": 0.02, "no_signal_steps": 2},
        train={"epochs": 5, "checkpoint_every": 10, "validate_every": 10, "sample_grid_every": 10},
    )
    trainer = CocoEditTrainer(cfg, tmp_path, make_backbone("kontext"), train_samples, {"constant": constant})
    with pytest.raises(NoSignalError) as error:
        trainer.train()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("step 2: no group has carried a learning signal for 2 steps")
    assert "median 0, largest 0, against advantage.std_threshold 0.02" in message
    assert "sampling.initial_noise: localized" in message and "sampling.group_size" in message
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        assert row["signal/uninformative_groups"] == 1.0 and row["train/stepped"] == 0.0
        # The samples do differ (a random tiny model): the reward is what has no spread.
        assert row["signal/spread_edit"] > 0 and row["signal/spread_keep"] > 0
        assert math.isfinite(row["signal/group_std_p90"])
