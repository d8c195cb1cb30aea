"""What the demo's table says, from paired per-seed differences and a paired t interval.

For every arm and metric, seed k gives one paired difference ``d_k = arm_k - base_k``: the arm's
run with RL seed k against the base editor evaluated from seed k's test noise (same pairs, same
initial noise), so the spread of the differences is the spread the seed causes. The test is the
**paired t interval**: ``mean(d) +- t_{0.975, n-1} * sd(d) / sqrt(n)`` with ``n - 1`` degrees of
freedom (sample standard deviation). A change *counts* when this 95 % interval excludes 0; that
is all a claim says ("the 95 % interval of the paired difference excludes 0"). With fewer than
two seeds there is no interval and nothing counts.

Claims, each ``True`` / ``False``, or ``None`` when an arm it needs was not run:

* ``judge_only_tradeoff`` (Edit-R1's trade-off): judge-only RL raises edit success and lowers
  keep-region PSNR.
* ``judge_only_edits_better``: judge-only RL raises edit success (the RL improves what it
  optimises).
* ``both_improve[arm]`` for every arm with the pixel reward or the regularizers (the paper's
  claim): edit success and keep-region PSNR both rise.
* ``paper_pattern``: the trade-off appears and at least one of those arms improves both.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from scipy import stats

CONFIDENCE = 0.95
#: Arms whose rewards or regularizers look at the keep region: the paper's "both improve" is
#: asked of each of them.
CONSISTENCY_ARMS = ("judge_pixel", "cocoedit", "cocoedit_corrected", "region", "region_explore")


def paired_change(deltas: list[float]) -> dict[str, Any]:
    """``mean``, ``std`` (sample), ``se``, ``n``, ``df``, the 95 % paired t interval ``low`` /
    ``high``, ``per_seed`` and ``excludes_zero`` of per-seed paired differences; non-finite values
    are left out."""
    finite = [d for d in deltas if math.isfinite(d)]
    n = len(finite)
    mean = statistics.fmean(finite) if finite else math.nan
    std = statistics.stdev(finite) if n > 1 else math.nan
    se = std / math.sqrt(n) if n > 1 else math.nan
    t = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) if n > 1 else math.nan
    low, high = mean - t * se, mean + t * se
    excludes = n > 1 and (low > 0 or high < 0)
    return {
        "mean": mean,
        "std": std,
        "se": se,
        "n": n,
        "df": n - 1,
        "t": t,
        "low": low,
        "high": high,
        "per_seed": deltas,
        "excludes_zero": bool(excludes),
    }


def direction(change: dict[str, Any]) -> int:
    """+1 / -1 when the 95 % interval excludes 0 above / below, 0 otherwise."""
    return (1 if change["mean"] > 0 else -1) if change["excludes_zero"] else 0


def interval_words(change: dict[str, Any], unit: str, fmt: str) -> str:
    """``+0.046 [+0.021, +0.071]`` (the mean and the 95 % interval), or the mean with a note."""
    if change["n"] < 2:
        return f"{change['mean']:+{fmt}}{unit} (one seed: no interval)"
    return f"{change['mean']:+{fmt}}{unit} [{change['low']:+{fmt}}, {change['high']:+{fmt}}]"


def headline(title: str, edit: dict[str, Any], psnr: dict[str, Any]) -> str:
    """One line per arm: both paired differences with their 95 % intervals and what they allow."""
    verdicts = []
    for name, change in (("edit success", edit), ("keep PSNR", psnr)):
        d = direction(change)
        verdicts.append(f"{name} {'up' if d > 0 else 'down' if d < 0 else 'not distinguishable from 0'}")
    return (
        f"{title}: Δ edit success {interval_words(edit, '', '.3f')}, Δ keep PSNR "
        f"{interval_words(psnr, ' dB', '.2f')}: {', '.join(verdicts)}."
    )


def claims_and_sentences(rows: dict[str, dict]) -> tuple[dict[str, Any], list[str]]:
    """The claims (module docstring) and the sentences that state them (one headline per arm
    first), from summary rows whose non-base entries carry ``vs_base[metric]`` as made by
    :func:`paired_change`."""
    sentences, signs = [], {}
    for name, row in rows.items():
        if name == "base":
            continue
        e, p = row["vs_base"]["edit_success"], row["vs_base"]["keep_psnr"]
        signs[name] = (direction(e), direction(p))
        sentences.append(headline(row["title"], e, p))
    n = next((row["vs_base"]["edit_success"]["n"] for name, row in rows.items() if name != "base"), 0)
    test = f"paired t, {n} seeds, 95 % interval of the paired difference"
    judge = signs.get("judge")
    tradeoff = None if judge is None else judge == (1, -1)
    edits_better = None if judge is None else judge[0] == 1
    both = {arm: signs[arm] == (1, 1) for arm in CONSISTENCY_ARMS if arm in signs}
    pattern = None if tradeoff is None or not both else tradeoff and any(both.values())
    if judge is not None:
        sentences.append(
            f"Judge-only RL raises edit success: the {test} excludes 0."
            if edits_better
            else f"Judge-only RL does not raise edit success measurably: the {test} includes 0 or lies below it."
        )
        sentences.append(
            "Judge-only RL shows Edit-R1's trade-off: edit success up and keep-region PSNR down, both intervals "
            "excluding 0."
            if tradeoff
            else "Judge-only RL does not show Edit-R1's trade-off with both intervals excluding 0."
        )
    for arm, ok in both.items():
        title = rows[arm]["title"]
        sentences.append(
            f"{title} raises both edit success and keep-region PSNR: both intervals exclude 0."
            if ok
            else f"{title} does not raise both edit success and keep-region PSNR with both intervals excluding 0."
        )
    claims = {
        "test": test,
        "judge_only_edits_better": edits_better,
        "judge_only_tradeoff": tradeoff,
        "both_improve": both,
        "paper_pattern": pattern,
    }
    return claims, sentences
