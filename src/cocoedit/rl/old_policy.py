"""The sampling ("old") policy: its decay schedule and soft update (method.md §b.10).

After each optimizer step every old-adapter parameter moves towards the current one:
``theta_old <- d theta_old + (1 - d) theta`` with ``d = old_policy_decay(step, schedule)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch

DecaySchedule = Literal["none", "linear", "delayed"]


def old_policy_decay(step: int, schedule: DecaySchedule = "linear") -> float:
    """Decay ``d`` after optimizer step ``step`` (0-based count of completed steps).

    * ``"none"`` (reference ``decay_type 0``): ``d = 0``, the old policy is the current one.
    * ``"linear"`` (``decay_type 1``, used by CoCoEdit): ``d = min(0.001 step, 0.5)``.
    * ``"delayed"`` (``decay_type 2``): ``d = 0`` before step 75, then ``min(0.0075 (step - 75), 0.999)``.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if schedule == "none":
        return 0.0
    if schedule == "linear":
        return min(0.001 * step, 0.5)
    if schedule == "delayed":
        return 0.0 if step < 75 else min(0.0075 * (step - 75), 0.999)
    raise ValueError(f"schedule must be 'none', 'linear' or 'delayed', got {schedule!r}")


@torch.no_grad()
def soft_update_(old: Iterable[torch.Tensor], current: Iterable[torch.Tensor], decay: float) -> None:
    """In place: ``old <- decay * old + (1 - decay) * current`` for matching tensors."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1], got {decay}")
    old, current = list(old), list(current)
    if len(old) != len(current):
        raise ValueError(f"{len(old)} old tensors but {len(current)} current ones")
    for o, c in zip(old, current, strict=True):
        if o.shape != c.shape:
            raise ValueError(f"shape mismatch in soft update: {tuple(o.shape)} vs {tuple(c.shape)}")
        o.mul_(decay).add_(c.detach().to(o.dtype), alpha=1.0 - decay)
