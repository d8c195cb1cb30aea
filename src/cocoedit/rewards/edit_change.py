"""A judge-free stand-in for the judge: did the edit region change at all?

``score = clamp(MAE_edit(edited, source) / scale, 0, 1)``: 0 when the edit region is untouched, 1
when its mean absolute change reaches ``scale`` (images in [0, 1]; default 0.5, so that edits of
different strength score differently instead of all saturating at 1, which would leave no group
with a spread to learn from). Together with the pixel reward
(keep region unchanged) it rewards a *local* edit, which is enough to check a whole training stack
(sampling, rewards, advantages, the update, checkpoints) on real weights before a judge is served,
for data without target images such as the CoCoEdit-40K release. It does not read the
instruction: it cannot teach the edit asked for (the MLLM judge, or the ``edit_judge`` reward on
data with targets, does). Conventions: images ``[B, 3, H, W]`` in [0, 1], edit masks
``[B, 1, H, W]`` with 1 = edit; an empty edit region cannot be scored.
"""

from __future__ import annotations

import torch

from cocoedit.core.metrics import region_mae
from cocoedit.rewards.base import RewardBatch


def edit_region_change(
    edited: torch.Tensor, source: torch.Tensor, edit_mask: torch.Tensor, scale: float = 0.5
) -> RewardBatch:
    """Per-sample edit-region change in [0, 1] (see the module docstring)."""
    if scale <= 0:
        raise ValueError(f"scale must be above 0, got {scale}")
    with torch.no_grad():
        change = region_mae(edited.float(), source.float(), edit_mask)
        valid = torch.isfinite(change)
        score = (change / scale).clamp(0, 1)
    return RewardBatch(torch.where(valid, score, torch.full_like(score, float("nan"))), valid)


class EditRegionChange:
    """:func:`edit_region_change` as a trainer reward (``reward.functions: {change:
    "cocoedit.rewards.edit_change:EditRegionChange"}``, option ``scale``)."""

    def __init__(self, scale: float = 0.5):
        if scale <= 0:
            raise ValueError(f"scale must be above 0, got {scale}")
        self.scale = scale

    def __call__(self, inputs) -> RewardBatch:
        return edit_region_change(inputs.edited, inputs.sources, inputs.edit_masks, self.scale)
