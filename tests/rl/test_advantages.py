"""Rewards -> group advantages -> optimality probability r, valid mask and ban list."""

import math
import statistics

import pytest
import torch

from cocoedit.rl.advantages import group_ids_from_keys, optimality_probability


def test_groups_are_keyed_by_image_and_instruction():
    keys = [("img1", "make it red"), ("img2", "make it red"), ("img1", "make it red"), ("img1", "remove it")]
    assert group_ids_from_keys(keys).tolist() == [0, 1, 0, 2]


def test_global_normaliser_by_hand():
    rewards = torch.tensor([0.0, 1.0, 0.5, 0.5, 0.95, 0.95])
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    out = optimality_probability(rewards, groups)
    sigma = statistics.pstdev(rewards.tolist()) + 1e-4
    expected_a = [-0.5 / sigma, 0.5 / sigma, 0.0, 0.0, 0.0, 0.0]
    assert out.advantage.tolist() == pytest.approx(expected_a, rel=1e-5)
    assert out.r.tolist() == pytest.approx([0.5 + a / 10 for a in expected_a], rel=1e-5)
    assert out.group_mean.tolist() == pytest.approx([0.5, 0.5, 0.95])
    assert out.group_std.tolist() == pytest.approx([0.5, 0.0, 0.0], abs=1e-7)
    # Group 1 has no spread -> excluded; group 2 saturated (std 0, mean 0.95) -> excluded and banned.
    assert out.valid.tolist() == [True, True, False, False, False, False]
    assert out.ban.tolist() == [False, False, True]


def test_group_normaliser_and_clipping():
    rewards = torch.tensor([0.0, 0.1, 0.2, 0.0, 1.0])
    groups = torch.tensor([0, 0, 0, 1, 1])
    out = optimality_probability(rewards, groups, normaliser="group", adv_clip_max=2.0)
    s0 = statistics.pstdev([0.0, 0.1, 0.2]) + 1e-4
    assert out.advantage[0].item() == pytest.approx(-0.1 / s0, rel=1e-5)
    assert out.r[2].item() == pytest.approx(0.5 + 0.5 * (0.1 / s0) / 2.0, rel=1e-5)
    # Group 1: A = +-0.5 / (0.5 + 1e-4) ~ +-1 -> r ~ 0.25 / 0.75 with clip 2.
    assert out.r[3:].tolist() == pytest.approx([0.25, 0.75], abs=1e-3)
    tight = optimality_probability(torch.tensor([0.0, 1.0, 0.5, 0.5]), torch.tensor([0, 0, 1, 1]), adv_clip_max=0.1)
    assert tight.r[:2].tolist() == [0.0, 1.0]  # clipped to the ends


def test_unscored_samples_are_excluded_not_imputed():
    rewards = torch.tensor([0.2, float("nan"), 0.6, 0.9])
    scored = torch.tensor([True, False, True, True])
    groups = torch.tensor([0, 0, 0, 1])
    out = optimality_probability(rewards, groups, scored=scored)
    assert math.isnan(out.r[1].item()) and math.isnan(out.advantage[1].item())
    assert not out.valid[1]
    assert out.group_mean[0].item() == pytest.approx(0.4)
    assert out.group_size.tolist() == [2, 1]
    reference = optimality_probability(torch.tensor([0.2, 0.6, 0.9]), torch.tensor([0, 0, 1]))
    assert out.r[[0, 2, 3]].tolist() == pytest.approx(reference.r.tolist())


def test_a_group_with_no_scored_sample_is_invalid_and_not_banned():
    out = optimality_probability(
        torch.tensor([0.3, 0.7, float("nan")]), torch.tensor([0, 0, 1]), scored=torch.tensor([True, True, False])
    )
    assert math.isnan(out.group_mean[1].item())
    assert out.valid.tolist() == [True, True, False] and out.ban.tolist() == [False, False]


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="non-finite"):
        optimality_probability(torch.tensor([0.1, float("nan")]), torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="normaliser"):
        optimality_probability(torch.tensor([0.1]), torch.tensor([0]), normaliser="batch")
    with pytest.raises(ValueError, match=r"\[N\]"):
        optimality_probability(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.long))
