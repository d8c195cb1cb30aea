"""Pixel-consistency reward on the keep region and named reward mixing."""

import math

import pytest
import torch

from cocoedit.rewards.base import RewardBatch, RewardError, mix_rewards
from cocoedit.rewards.pixel import pixel_consistency_reward


def images():
    gen = torch.Generator().manual_seed(0)
    source = torch.rand(3, 3, 32, 32, generator=gen) * 0.8
    edit = torch.zeros(3, 1, 32, 32)
    edit[:, :, 8:20, 8:20] = 1
    edit[2] = 1  # no keep region
    return source, edit


def test_identical_keep_region_scores_one_and_edits_inside_do_not_matter():
    source, edit = images()
    edited = source.clone()
    edited[:, :, 8:20, 8:20] = 1.0
    out = pixel_consistency_reward(edited, source, edit)
    assert out.scores[:2].tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert out.valid.tolist() == [True, True, False] and math.isnan(out.scores[2].item())


def test_psnr_part_by_hand():
    source, edit = images()
    edited = source + 0.1  # PSNR 20 dB everywhere -> 20 / 40 = 0.5
    out = pixel_consistency_reward(edited, source, edit, psnr_weight=1.0, ssim_weight=0.0)
    assert out.scores[:2].tolist() == pytest.approx([0.5, 0.5], abs=1e-4)
    ref = pixel_consistency_reward(edited, source, edit, psnr_weight=0.65, ssim_weight=0.35)
    assert 0.5 < ref.scores[0].item() < 1.0


def test_mixing_is_a_named_weighted_sum_with_validity_and():
    judge = RewardBatch(torch.tensor([0.8, float("nan"), 0.4]), torch.tensor([True, False, True]))
    pixel = RewardBatch(torch.tensor([0.5, 0.9, 1.0]), torch.tensor([True, True, True]))
    mixed = mix_rewards({"judge": judge, "pixel": pixel}, {"judge": 0.8, "pixel": 0.2})
    assert mixed.valid.tolist() == [True, False, True]
    assert mixed.scores[0].item() == pytest.approx(0.74) and mixed.scores[2].item() == pytest.approx(0.52)
    assert math.isnan(mixed.scores[1].item())
    pixel_only = mix_rewards({"judge": judge, "pixel": pixel}, {"judge": 0.0, "pixel": 1.0})
    assert pixel_only.valid.all() and pixel_only.scores.tolist() == pytest.approx([0.5, 0.9, 1.0])
    with pytest.raises(RewardError, match="no weight for"):
        mix_rewards({"judge": judge, "pixel": pixel}, {"judge": 1.0})
    with pytest.raises(RewardError, match="no component for"):
        mix_rewards({"judge": judge}, {"judge": 1.0, "pxel": 0.2})
