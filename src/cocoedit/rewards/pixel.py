"""Pixel-consistency reward on the keep region (method.md §d.2).

Conventions: images ``[B, 3, H, W]`` in [0, 1]; edit masks ``[B, 1, H, W]`` with 1 = edit.

``r_sim = psnr_weight * clamp(PSNR / psnr_max_db, 0, 1) + ssim_weight * SSIM`` on the keep region,
using the true-MSE PSNR and the normalised-convolution SSIM of :mod:`cocoedit.core.metrics`
(the reference's channel-summed PSNR and box-normalised SSIM are not reproduced, §i.9–§i.10).
Default weights 0.5 / 0.5 follow the paper (§i.4); the reference code's 0.65 PSNR / 0.35 SSIM is a
configuration away. An image with no keep region has no pixel reward: it is returned as invalid,
never as 0.

``scorer="reference"`` scores instead as the reference code does
(:mod:`cocoedit.rewards.reference_pixel`: PSNR 4.77 dB low, near-saturated SSIM), a reproduction
aid for the reference run's reward balance, not a correct metric.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cocoedit.core.metrics import SSIMMode, keep_region_metrics
from cocoedit.rewards.base import RewardBatch, RewardInputs

PixelScorer = Literal["standard", "reference"]


def pixel_consistency_reward(
    edited: torch.Tensor,
    source: torch.Tensor,
    edit_mask: torch.Tensor,
    psnr_max_db: float = 40.0,
    psnr_weight: float = 0.5,
    ssim_weight: float = 0.5,
    ssim_mode: SSIMMode = "normalized",
    scorer: PixelScorer = "standard",
) -> RewardBatch:
    """Keep-region similarity reward in [0, 1] (see the module docstring)."""
    if scorer == "reference":
        from cocoedit.rewards.reference_pixel import reference_pixel_reward

        return reference_pixel_reward(edited, source, edit_mask, psnr_max_db, psnr_weight, ssim_weight)
    if scorer != "standard":
        raise ValueError(f"scorer must be 'standard' or 'reference', got {scorer!r}")
    if psnr_max_db <= 0:
        raise ValueError(f"psnr_max_db must be positive, got {psnr_max_db}")
    if psnr_weight < 0 or ssim_weight < 0 or psnr_weight + ssim_weight == 0:
        raise ValueError(f"weights must be >= 0 and not both 0, got psnr {psnr_weight}, ssim {ssim_weight}")
    with torch.no_grad():
        m = keep_region_metrics(edited.float(), source.float(), edit_mask, ssim_mode=ssim_mode)
        psnr_norm = (m.psnr / psnr_max_db).clamp(0, 1)
        score = (psnr_weight * psnr_norm + ssim_weight * m.ssim.clamp(0, 1)) / (psnr_weight + ssim_weight)
    return RewardBatch(scores=score, valid=~m.empty)


class PixelRewardOptions(BaseModel):
    """The options of the built-in ``pixel`` reward component (``reward.components``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    psnr_max_db: float = Field(40.0, gt=0, description="PSNR normalisation: clamp(PSNR / psnr_max_db, 0, 1).")
    psnr_weight: float = Field(0.5, ge=0, description="Paper: 0.5; reference code: 0.65.")
    ssim_weight: float = Field(0.5, ge=0, description="Paper: 0.5; reference code: 0.35.")
    scorer: PixelScorer = Field(
        "standard",
        description="standard: true-MSE PSNR and normalised SSIM (docs/metrics.md); reference: the reference "
        "code's PSNR (4.77 dB low) and near-saturated SSIM, a reproduction aid, not a correct metric.",
    )

    @model_validator(mode="after")
    def _some_weight(self) -> PixelRewardOptions:
        if self.psnr_weight + self.ssim_weight == 0:
            raise ValueError("psnr_weight and ssim_weight are both 0: nothing would be scored")
        return self


class PixelReward:
    """:func:`pixel_consistency_reward` as a trainer reward component (options: :class:`PixelRewardOptions`)."""

    def __init__(
        self,
        psnr_max_db: float = 40.0,
        psnr_weight: float = 0.5,
        ssim_weight: float = 0.5,
        scorer: PixelScorer = "standard",
    ):
        self.kwargs = dict(psnr_max_db=psnr_max_db, psnr_weight=psnr_weight, ssim_weight=ssim_weight, scorer=scorer)

    def __call__(self, inputs: RewardInputs) -> RewardBatch:
        batch = pixel_consistency_reward(inputs.edited, inputs.sources, inputs.edit_masks, **self.kwargs)
        return RewardBatch(
            batch.scores, batch.valid, tuple(None if ok else "no_keep_region" for ok in batch.valid.tolist())
        )
