"""What the demo's table says, computed from paired per-seed differences (issue [science] item 4).

For every arm and metric, seed k gives one paired difference ``arm_k - base_k``: the arm's run
with RL seed k against the base editor evaluated from seed k's test noise (same pairs, same
initial noise), so the spread of the differences is the spread the seed causes. A change is
**beyond the seed spread** when ``|mean| > 2 * standard error`` (``standard error = sample std /
sqrt(n)``), i.e. roughly a 95% interval that excludes zero; with fewer than two seeds no change
counts, because there is no spread to compare with.

Claims, each ``True`` / ``False``, or ``None`` when an arm it needs was not run:

* ``judge_only_tradeoff`` (Edit-R1's trade-off, which the paper reports): judge-only RL raises
  edit success and lowers keep-region PSNR.
* ``both_improve[arm]`` for each CoCoEdit arm (the paper's claim): edit success and keep-region
  PSNR both rise.
* ``paper_pattern``: the trade-off appears and at least one CoCoEdit arm improves both.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

#: A change counts when its mean paired difference exceeds this many standard errors.
STANDARD_ERRORS = 2.0
COCOEDIT_ARMS = ("cocoedit", "cocoedit_corrected")


def paired_change(deltas: list[float]) -> dict[str, Any]:
    """``mean``, ``std`` (sample), ``se``, ``n``, ``per_seed`` and ``clear`` (beyond the seed
    spread) of per-seed paired differences; non-finite values are left out."""
    finite = [d for d in deltas if math.isfinite(d)]
    n = len(finite)
    mean = statistics.fmean(finite) if finite else math.nan
    std = statistics.stdev(finite) if n > 1 else math.nan
    se = std / math.sqrt(n) if n > 1 else math.nan
    clear = n > 1 and abs(mean) > STANDARD_ERRORS * se
    return {"mean": mean, "std": std, "se": se, "n": n, "per_seed": deltas, "clear": bool(clear)}


def _direction(change: dict[str, Any]) -> int:
    """+1 / -1 for a change beyond the seed spread, 0 otherwise."""
    return (1 if change["mean"] > 0 else -1) if change["clear"] else 0


def _words(change: dict[str, Any], unit: str, fmt: str) -> str:
    mean, se = change["mean"], change["se"]
    direction = "up" if mean > 0 else "down"
    if change["n"] < 2:
        return f"{direction} {abs(mean):{fmt}}{unit} (one seed: no spread to judge it by)"
    verdict = "beyond the seed spread" if change["clear"] else "within the seed spread"
    return f"{direction} {abs(mean):{fmt}}{unit} (± {se:{fmt}} s.e., {verdict})"


def claims_and_sentences(rows: dict[str, dict]) -> tuple[dict[str, Any], list[str]]:
    """The claims (module docstring) and the sentences that state them, from summary rows whose
    non-base entries carry ``vs_base[metric]`` as made by :func:`paired_change`."""
    sentences, signs = [], {}
    for name, row in rows.items():
        if name == "base":
            continue
        e, p = row["vs_base"]["edit_success"], row["vs_base"]["keep_psnr"]
        signs[name] = (_direction(e), _direction(p))
        sentences.append(
            f"{row['title']}: edit success {_words(e, '', '.3f')}, keep-region PSNR "
            f"{_words(p, ' dB', '.2f')} against the base editor."
        )
    tradeoff = None if "judge" not in signs else signs["judge"] == (1, -1)
    both = {arm: signs[arm] == (1, 1) for arm in COCOEDIT_ARMS if arm in signs}
    pattern = None if tradeoff is None or not both else tradeoff and any(both.values())
    if tradeoff is not None:
        sentences.append(
            "Judge-only RL shows Edit-R1's trade-off (more editing, a damaged keep region)."
            if tradeoff
            else "Judge-only RL does not show Edit-R1's trade-off beyond the seed spread."
        )
    for arm, ok in both.items():
        title = rows[arm]["title"]
        sentences.append(
            f"{title} raises both edit success and keep-region PSNR beyond the seed spread, as the paper claims."
            if ok
            else f"{title} does not raise both edit success and keep-region PSNR beyond the seed spread."
        )
    return {"judge_only_tradeoff": tradeoff, "both_improve": both, "paper_pattern": pattern}, sentences
