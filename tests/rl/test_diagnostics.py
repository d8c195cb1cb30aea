"""The learning signal's diagnostics on hand-made groups, and the monitor's warning and stop."""

import logging
import math

import pytest
import torch

from cocoedit.rl.config import load_config
from cocoedit.rl.diagnostics import NoSignalError, SignalMonitor, group_pair_distances, reward_spread, spread_metrics


def test_pairwise_distances_per_region_by_hand():
    images = torch.zeros(4, 3, 2, 2)
    images[1, :, 0, 0] = 0.5  # differs from sample 0 on the edit pixel only
    images[3, :, 1, 1] = 0.2  # differs from sample 2 on a keep pixel only
    masks = torch.zeros(4, 1, 2, 2)
    masks[:, :, 0, 0] = 1
    out = group_pair_distances(images, masks, torch.tensor([0, 0, 1, 1]))
    assert out[0] == pytest.approx((0.5, 0.0))
    assert out[1] == pytest.approx((0.0, math.sqrt(0.04 / 3)))
    assert spread_metrics(out) == pytest.approx(
        {"signal/spread_edit": 0.25, "signal/spread_keep": math.sqrt(0.04 / 3) / 2}
    )
    assert group_pair_distances(images[:1], masks[:1], torch.tensor([0])) == {}  # no pair


def test_reward_spread_counts_groups_at_or_below_the_threshold():
    out = reward_spread(torch.tensor([0.0, 0.02, 0.05, float("nan")]), 0.02)
    assert out["signal/uninformative_groups"] == 0.75  # 0, 0.02 (at the threshold) and the unscored group
    assert out["signal/group_std_max"] == pytest.approx(0.05)
    assert out["signal/group_std_p50"] == pytest.approx(0.02)


def _monitor(steps):
    cfg = load_config(
        None,
        [],
        base={
            "model": {"path": "m"},
            "data": {"manifest": "d"},
            "reward": {"components": [{"name": "pixel"}]},
            "advantage": {"no_signal_steps": steps},
        },
    )
    return SignalMonitor(cfg)


def test_warns_once_when_most_groups_are_quiet_and_stops_when_all_are(caplog):
    monitor = _monitor(3)
    quiet = {
        "signal/unused_groups": 0.75,
        "train/valid_fraction": 0.25,
        "signal/group_std_p50": 0.01,
        "signal/group_std_max": 0.03,
    }
    with caplog.at_level(logging.WARNING, logger="cocoedit.train"):
        assert monitor.observe(1, quiet) is None and monitor.observe(2, quiet) is None
        line = monitor.observe(3, quiet)
        assert monitor.observe(4, quiet) is None  # once per streak
    assert line is not None and "\n" not in line
    assert "step 3: most groups (75%) have carried no learning signal for 3 steps" in line
    assert "median 0.01" in line and "advantage.std_threshold 0.02" in line and "sampling.initial_noise" in line
    # Saturated groups (mean at or above the threshold) count as quiet too: the line says so.
    assert "advantage.mean_threshold 0.9" in line and "saturated" in line
    assert [r.getMessage() for r in caplog.records] == [line]
    silent = {**quiet, "signal/unused_groups": 1.0, "train/valid_fraction": 0.0}
    monitor.observe(5, silent)
    monitor.observe(6, {**quiet, "train/valid_fraction": 0.1})  # a signal again: the count restarts
    monitor.observe(7, silent)
    monitor.observe(8, silent)
    with pytest.raises(
        NoSignalError,
        match=r"^step 9: no group has carried a learning signal for 3 steps .*"
        r"largest 0.03, against advantage.std_threshold 0.02.*sampling.sampler: sde",
    ):
        monitor.observe(9, silent)


def test_zero_never_stops():
    monitor = _monitor(0)
    for step in range(1, 20):
        assert monitor.observe(step, {"signal/unused_groups": 1.0, "train/valid_fraction": 0.0}) is None
