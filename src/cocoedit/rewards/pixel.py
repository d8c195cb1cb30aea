"""Pixel-consistency reward on the keep region, and named reward mixing (method.md §d.2–§d.3).

Conventions: images ``[B, 3, H, W]`` in [0, 1]; edit masks ``[B, 1, H, W]`` with 1 = edit.

``r_sim = psnr_weight * clamp(PSNR / psnr_max_db, 0, 1) + ssim_weight * SSIM`` on the keep region,
using the true-MSE PSNR and the normalised-convolution SSIM of :mod:`cocoedit.eval.metrics`
(the reference's channel-summed PSNR and box-normalised SSIM are not reproduced, §i.9–§i.10).
Default weights 0.5 / 0.5 follow the paper (§i.4); the reference code's 0.65 PSNR / 0.35 SSIM is a
configuration away. An image with no keep region has no pixel reward: it is returned as invalid,
never as 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from cocoedit.eval.metrics import SSIMMode, keep_region_metrics


@dataclass(frozen=True)
class RewardBatch:
    """Scores ``[B]`` in [0, 1] and a bool ``valid`` ``[B]``: invalid scores are NaN."""

    scores: torch.Tensor
    valid: torch.Tensor


def pixel_consistency_reward(
    edited: torch.Tensor,
    source: torch.Tensor,
    edit_mask: torch.Tensor,
    psnr_max_db: float = 40.0,
    psnr_weight: float = 0.5,
    ssim_weight: float = 0.5,
    ssim_mode: SSIMMode = "normalized",
) -> RewardBatch:
    """Keep-region similarity reward in [0, 1] (see the module docstring)."""
    if psnr_max_db <= 0:
        raise ValueError(f"psnr_max_db must be positive, got {psnr_max_db}")
    if psnr_weight < 0 or ssim_weight < 0 or psnr_weight + ssim_weight == 0:
        raise ValueError(f"weights must be >= 0 and not both 0, got psnr {psnr_weight}, ssim {ssim_weight}")
    with torch.no_grad():
        m = keep_region_metrics(edited.float(), source.float(), edit_mask, ssim_mode=ssim_mode)
        psnr_norm = (m.psnr / psnr_max_db).clamp(0, 1)
        score = (psnr_weight * psnr_norm + ssim_weight * m.ssim.clamp(0, 1)) / (psnr_weight + ssim_weight)
    return RewardBatch(scores=score, valid=~m.empty)


def mix_rewards(components: Mapping[str, RewardBatch], weights: Mapping[str, float]) -> RewardBatch:
    """``R = sum_k w_k s_k`` over the named components (no renormalisation, as the reference).

    Every weighted component must be present and every component must have a weight (a typo in a
    config is an error). A sample is valid only if every component with a non-zero weight is.
    """
    missing = sorted(set(weights) - set(components))
    unweighted = sorted(set(components) - set(weights))
    if missing or unweighted:
        raise ValueError(f"reward weights and components differ: no component for {missing}, no weight for {unweighted}")
    active = [k for k, w in weights.items() if w != 0]
    if not active:
        raise ValueError("every reward weight is 0")
    first = components[active[0]].scores
    total = torch.zeros_like(first, dtype=torch.float32)
    valid = torch.ones_like(first, dtype=torch.bool)
    for name in active:
        batch = components[name]
        if batch.scores.shape != first.shape:
            raise ValueError(f"reward {name!r} has shape {tuple(batch.scores.shape)}, expected {tuple(first.shape)}")
        valid &= batch.valid
        total = total + weights[name] * torch.where(batch.valid, batch.scores.float(), torch.zeros_like(total))
    return RewardBatch(scores=torch.where(valid, total, torch.full_like(total, float("nan"))), valid=valid)
