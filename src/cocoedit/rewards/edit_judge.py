"""A programmatic edit judge for tasks with exact targets (the synthetic task, curated pairs).

``score = clamp(1 - MAE_edit(edited, target) / MAE_edit(source, target), 0, 1)``: 1 when the edit
region of the edited image matches the target, 0 when it is no closer to the target than the
unedited source. Like an MLLM judge it only asks whether the instructed change happened; it looks
at the edit region alone and is blind to what happened in the keep region (that is the pixel
reward's job). Conventions: images ``[B, 3, H, W]`` in [0, 1], edit masks ``[B, 1, H, W]`` with
1 = edit. A sample without a target or with an empty edit region is invalid, never scored.
"""

from __future__ import annotations

import torch

from cocoedit.core.metrics import region_mae
from cocoedit.rewards.base import RewardBatch, RewardError


def edit_success(
    edited: torch.Tensor, source: torch.Tensor, target: torch.Tensor, edit_mask: torch.Tensor
) -> RewardBatch:
    """Per-sample edit success in [0, 1] (see the module docstring)."""
    with torch.no_grad():
        achieved = region_mae(edited.float(), target.float(), edit_mask)
        needed = region_mae(source.float(), target.float(), edit_mask)
        valid = torch.isfinite(needed) & (needed > 0)
        score = (1 - achieved / needed.clamp_min(1e-8)).clamp(0, 1)
    return RewardBatch(torch.where(valid, score, torch.full_like(score, float("nan"))), valid)


class EditJudge:
    """:func:`edit_success` as a trainer reward; needs rows with a ``target`` image."""

    def __call__(self, inputs) -> RewardBatch:
        if inputs.targets is None:
            raise RewardError("the edit judge needs target images: give every manifest row a 'target'")
        return edit_success(inputs.edited, inputs.sources, inputs.targets, inputs.edit_masks)
