"""What every reward component sees and returns, and how components are mixed (method.md §d.3).

* :class:`RewardInputs`: sources and edited images ``[B, 3, H, W]`` in [0, 1], edit masks
  ``[B, 1, H, W]`` (1 = edit), instructions, and targets when every row has one.
* A reward is any callable ``reward(inputs) -> scores`` (:class:`RewardFunction`); it returns a
  :class:`RewardBatch`, or a tensor / sequence of floats where NaN or ``None`` means "could not
  score" (:func:`as_reward_batch`). A sample that could not be scored is excluded from training,
  never given a made-up score.
* :func:`mix_rewards`: ``R = sum_k w_k s_k`` over named components.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from cocoedit.core.errors import CocoEditError
from cocoedit.data.rows import TrainingRow

UNSCORED = "unscored"


class RewardError(CocoEditError):
    """A reward cannot score what it was given, returned something unusable, or is misconfigured."""


@dataclass(frozen=True)
class RewardBatch:
    """Scores ``[B]`` and a bool ``valid [B]`` (invalid scores are NaN, so any use of one is loud);
    ``reasons`` says why each invalid sample could not be scored (a short tag, counted; None where
    valid) and ``details`` what was said about it (a server's explanation, an unusable reply)."""

    scores: torch.Tensor
    valid: torch.Tensor
    reasons: tuple[str | None, ...] | None = None
    details: tuple[str | None, ...] | None = None

    def failure_reasons(self) -> list[str]:
        """The reason of every invalid sample (``"unscored"`` when the reward gave none)."""
        reasons = self.reasons or (None,) * len(self.valid)
        return [r or UNSCORED for r, ok in zip(reasons, self.valid.tolist(), strict=True) if not ok]


@dataclass(frozen=True)
class RewardInputs:
    """What every reward sees: ``sources``/``edited`` ``[B, 3, H, W]`` in [0, 1], ``edit_masks``
    ``[B, 1, H, W]`` (1 = edit), the instructions, and ``targets`` ``[B, 3, H, W]`` when every row
    of the batch has a target image (else None)."""

    sources: torch.Tensor
    edited: torch.Tensor
    edit_masks: torch.Tensor
    instructions: list[str]
    targets: torch.Tensor | None = None

    @staticmethod
    def from_rows(rows: Sequence[TrainingRow], edited: torch.Tensor) -> RewardInputs:
        targets = [r.target for r in rows]
        return RewardInputs(
            sources=torch.stack([r.source for r in rows]),
            edited=edited,
            edit_masks=torch.stack([r.edit_mask for r in rows]),
            instructions=[r.sample.instruction for r in rows],
            targets=torch.stack(targets) if all(t is not None for t in targets) else None,
        )

    def __len__(self) -> int:
        return self.edited.shape[0]


class RewardFunction(Protocol):
    """A reward component; it may also have ``close()`` (called when training ends)."""

    def __call__(self, inputs: RewardInputs) -> RewardBatch | torch.Tensor | Sequence[float | None]: ...


def as_reward_batch(value: Any, size: int, name: str) -> RewardBatch:
    """A reward's return value as a :class:`RewardBatch` of ``size`` samples.

    Accepted: a :class:`RewardBatch`; a tensor or sequence of numbers where NaN or ``None`` marks a
    sample the reward could not score. Anything else, a wrong length, or a non-finite score marked
    valid raises :class:`RewardError` naming the reward.
    """
    if isinstance(value, RewardBatch):
        batch = value
    elif isinstance(value, torch.Tensor) or isinstance(value, Sequence) and not isinstance(value, str):
        floats = [
            math.nan if v is None else float(v) for v in (value.tolist() if isinstance(value, torch.Tensor) else value)
        ]
        scores = torch.tensor(floats, dtype=torch.float32).reshape(-1)
        batch = RewardBatch(scores, torch.isfinite(scores))
    else:
        raise RewardError(
            f"reward {name!r} returned a {type(value).__name__}; expected a RewardBatch, a tensor or "
            "a list of floats (None or NaN: could not score)"
        )
    if batch.scores.shape != (size,) or batch.valid.shape != (size,):
        raise RewardError(f"reward {name!r} returned {tuple(batch.scores.shape)} scores for {size} samples")
    if not torch.isfinite(batch.scores[batch.valid]).all():
        raise RewardError(f"reward {name!r} returned a non-finite score for a sample it marked valid")
    scores = torch.where(
        batch.valid, batch.scores.float(), torch.full_like(batch.scores, math.nan, dtype=torch.float32)
    )
    return RewardBatch(scores, batch.valid.bool(), batch.reasons, batch.details)


def mix_rewards(components: Mapping[str, RewardBatch], weights: Mapping[str, float]) -> RewardBatch:
    """``R = sum_k w_k s_k`` over the named components (no renormalisation, as the reference; the
    credit assignment compares groups on ``R / sum_k w_k``, :func:`cocoedit.rl.advantages.assign_credit`).

    Every weighted component must be present and every component must have a weight (a typo in a
    config is an error). A sample is valid only if every component with a non-zero weight is.
    """
    missing = sorted(set(weights) - set(components))
    unweighted = sorted(set(components) - set(weights))
    if missing or unweighted:
        raise RewardError(
            f"reward weights and components differ: no component for {missing}, no weight for {unweighted}"
        )
    active = [k for k, w in weights.items() if w != 0]
    if not active:
        raise RewardError("every reward weight is 0")
    first = components[active[0]].scores
    total = torch.zeros_like(first, dtype=torch.float32)
    valid = torch.ones_like(first, dtype=torch.bool)
    for name in active:
        batch = components[name]
        if batch.scores.shape != first.shape:
            raise RewardError(f"reward {name!r} has shape {tuple(batch.scores.shape)}, expected {tuple(first.shape)}")
        valid &= batch.valid
        total = total + weights[name] * torch.where(batch.valid, batch.scores.float(), torch.zeros_like(total))
    return RewardBatch(scores=torch.where(valid, total, torch.full_like(total, float("nan"))), valid=valid)
