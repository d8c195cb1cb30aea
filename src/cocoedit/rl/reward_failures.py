"""Samples a reward component could not score: counted per reason for the logs, written one per line
with the sample and what was said about it to ``reward_failures.jsonl`` in the run folder, and a
stop (:class:`RewardFailureError`) when a component fails on too large a share of an epoch, whose
message names the counts, the last explanation a server gave (an HTTP error's text, a timeout) and
one unusable reply, so that the reason is in front of the user, not only its count."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from cocoedit.core.errors import CocoEditError, explain_failures
from cocoedit.rewards.base import UNSCORED, RewardBatch

FAILURES_FILE = "reward_failures.jsonl"


class RewardFailureError(CocoEditError):
    """A reward component could not score too large a share of an epoch's samples."""


def _failures(batch: RewardBatch) -> list[tuple[int, str, str | None]]:
    """``(sample index, reason, detail)`` of every invalid sample, in sample order."""
    n = len(batch.valid)
    reasons, details = batch.reasons or (None,) * n, batch.details or (None,) * n
    return [(i, reasons[i] or UNSCORED, details[i]) for i, ok in enumerate(batch.valid.tolist()) if not ok]


def unscored_stats(name: str, batch: RewardBatch) -> dict[str, float]:
    """``reward_unscored/<name>`` and ``reward_unscored/<name>/<reason>`` counts."""
    reasons = Counter(reason for _, reason, _ in _failures(batch))
    return {f"reward_unscored/{name}": float(sum(reasons.values()))} | {
        f"reward_unscored/{name}/{reason}": float(n) for reason, n in reasons.items()
    }


def explanations(batch: RewardBatch) -> str:
    """``. Last explanation: ...; one unparsable reply: ...`` from the failures' details (each part
    only when there is one: :func:`~cocoedit.core.errors.explain_failures`)."""
    return explain_failures((reason, detail) for _, reason, detail in _failures(batch))


def check_unscored(epoch: int, name: str, batch: RewardBatch, weight: float, max_fraction: float) -> None:
    """Raise :class:`RewardFailureError` when component ``name`` (weighted ``weight``) could not
    score more than ``max_fraction`` of epoch ``epoch``'s samples (0-based epoch)."""
    failures = _failures(batch)
    share = len(failures) / max(len(batch.valid), 1)
    if not weight or share <= max_fraction:
        return
    counted = ", ".join(f"{reason} x{n}" for reason, n in Counter(r for _, r, _ in failures).most_common())
    raise RewardFailureError(
        f"epoch {epoch + 1}: reward {name!r} could not score {len(failures)} of {len(batch.valid)} samples "
        f"({share:.0%} > reward.max_unscored_fraction {max_fraction:g}): {counted}" + explanations(batch)
    )


def append_failures(run_dir: Path, step: int, name: str, batch: RewardBatch, sample_ids: Sequence[str]) -> None:
    """Append one line per sample ``name`` could not score in ``step`` to ``reward_failures.jsonl``:
    ``{"step", "component", "sample_id", "reason", "detail"}`` (nothing when all were scored)."""
    failures = _failures(batch)
    if not failures:
        return
    with open(run_dir / FAILURES_FILE, "a", encoding="utf-8") as f:
        for i, reason, detail in failures:
            record = {"step": step, "component": name, "sample_id": sample_ids[i], "reason": reason, "detail": detail}
            f.write(json.dumps(record) + "\n")
