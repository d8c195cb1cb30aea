"""A batch of per-sample rewards with validity, and named reward mixing (method.md §d.3).

Every reward component returns a :class:`RewardBatch`: ``scores [B]`` in [0, 1] and a bool
``valid [B]``; an invalid score is NaN, so any accidental use of it is loud.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from cocoedit.core.errors import CocoEditError


class RewardError(CocoEditError):
    """A reward cannot score what it was given (missing inputs, misconfigured weights)."""


@dataclass(frozen=True)
class RewardBatch:
    """Scores ``[B]`` in [0, 1] and a bool ``valid`` ``[B]``: invalid scores are NaN."""

    scores: torch.Tensor
    valid: torch.Tensor


def mix_rewards(components: Mapping[str, RewardBatch], weights: Mapping[str, float]) -> RewardBatch:
    """``R = sum_k w_k s_k`` over the named components (no renormalisation, as the reference).

    Every weighted component must be present and every component must have a weight (a typo in a
    config is an error). A sample is valid only if every component with a non-zero weight is.
    """
    missing = sorted(set(weights) - set(components))
    unweighted = sorted(set(components) - set(weights))
    if missing or unweighted:
        raise RewardError(f"reward weights and components differ: no component for {missing}, no weight for {unweighted}")
    active = [k for k, w in weights.items() if w != 0]
    if not active:
        raise RewardError("every reward weight is 0")
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
