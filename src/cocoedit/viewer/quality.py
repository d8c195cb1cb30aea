"""How far each rater's answers can be trusted: side bias, agreement with the others, pace, shares.

Conventions
-----------
* An **item** is one pair of folders on one sample: ``(sample key, folder a, folder b)`` with the two
  labels sorted. A pairwise answer rates one item; a ranking of N folders rates N(N-1)/2 items.
* An answer's **category** on an item is the better folder's label, ``"tie"``, or ``"both_bad"``
  (pairwise "both bad"). Skipped tasks rate nothing.
* **Agreement** of a rater (:func:`cohen_kappa` against the others): every (item, other rater)
  where both answered gives a pair of categories; ``p_o`` = share of equal pairs, ``p_e`` =
  ``Σ_c p_r(c) p_o(c)`` from the rater's and the others' category shares over those pairs,
  ``κ = (p_o - p_e) / (1 - p_e)``: 1 = always agrees, 0 = as often as chance, < 0 = less.
  None when no item is shared, or when chance agreement is certain (``p_e = 1``).
* **Study agreement**: :func:`fleiss_kappa` over the items answered by two raters or more (the form
  for unequal numbers of raters per item: ``P_i = Σ_c n_ic (n_ic - 1) / (n_i (n_i - 1))``,
  ``P̄`` their mean, ``p_c = Σ_i n_ic / Σ_i n_i``, ``P_e = Σ_c p_c²``, ``κ = (P̄ - P_e) / (1 - P_e)``).
* **Side bias**: of the decisive comparisons (one result better than the other), the share won by
  the result shown further left (pairwise: "A"). Pairwise answers are independent, so a two-sided
  exact binomial test against 1/2 is given; the comparisons of one ranking are not, so ranked
  studies report the share only.
* **Pace**: answers per minute = 60 / the median time between consecutive answers (robust to
  breaks), with that median.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from itertools import combinations
from typing import Any

Item = tuple[str, str, str]  # (sample key, folder a, folder b), a < b


def item_categories(judgement: dict[str, Any]) -> dict[Item, str]:
    """The category the answer gives each item it rates (none for a skip)."""
    if judgement["kind"] == "skip":
        return {}
    rank = {label: r for r, group in enumerate(judgement["ranking"]) for label in group}
    out = {}
    for a, b in combinations(sorted(rank), 2):
        if judgement["kind"] == "both_bad":
            category = "both_bad"
        elif rank[a] == rank[b]:
            category = "tie"
        else:
            category = a if rank[a] < rank[b] else b
        out[(judgement["sample_key"], a, b)] = category
    return out


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's κ of category pairs ``(first rater's, second rater's)``; None if undefined."""
    if not pairs:
        return None
    observed = sum(a == b for a, b in pairs) / len(pairs)
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    chance = sum(first[c] * second[c] for c in first) / len(pairs) ** 2
    if chance >= 1.0:
        return None
    return (observed - chance) / (1.0 - chance)


def fleiss_kappa(items: Sequence[Counter]) -> float | None:
    """Fleiss' κ of items given as category counts (one count per rater who rated it); items with
    fewer than two ratings are ignored. None if no item has two ratings or chance agreement is 1."""
    rated = [c for c in items if sum(c.values()) >= 2]
    if not rated:
        return None
    per_item = []
    totals: Counter = Counter()
    for counts in rated:
        n = sum(counts.values())
        per_item.append(sum(k * (k - 1) for k in counts.values()) / (n * (n - 1)))
        totals.update(counts)
    grand = sum(totals.values())
    chance = sum((v / grand) ** 2 for v in totals.values())
    if chance >= 1.0:
        return None
    return (statistics.fmean(per_item) - chance) / (1.0 - chance)


def _side_bias(answers: list[dict[str, Any]], pairwise: bool) -> dict[str, Any]:
    left_won = decisive = 0
    for j in answers:
        if j["kind"] != "rank":
            continue
        rank = {label: r for r, group in enumerate(j["ranking"]) for label in group}
        for left, right in combinations(j["shown"], 2):  # display order: left before right
            if rank[left] != rank[right]:
                decisive += 1
                left_won += rank[left] < rank[right]
    out: dict[str, Any] = {"decisive": decisive, "left_won": left_won, "left_share": None, "p_value": None}
    if decisive:
        out["left_share"] = left_won / decisive
        if pairwise:
            from scipy.stats import binomtest

            out["p_value"] = float(binomtest(left_won, decisive, 0.5).pvalue)
    return out


def _pace(answers: list[dict[str, Any]]) -> dict[str, float | None]:
    times = sorted(j["created"] for j in answers)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    if not gaps:
        return {"answers_per_minute": None, "median_seconds_between_answers": None}
    median = statistics.median(gaps)
    return {"answers_per_minute": 60.0 / median if median > 0 else None, "median_seconds_between_answers": median}


def rater_quality(judgements: Sequence[dict[str, Any]], mode: str, withdrawn: dict[str, int] | None = None) -> dict:
    """Per rater: answers, shares of ties / both bad / skips, undone answers, side bias, agreement
    with the other raters (κ and the number of shared item ratings) and pace; plus the study's
    Fleiss κ. ``judgements`` as :meth:`RatingStore.judgements` returns them."""
    by_rater: dict[str, list[dict[str, Any]]] = defaultdict(list)
    categories: dict[str, dict[Item, str]] = defaultdict(dict)
    for j in judgements:
        by_rater[j["rater"]].append(j)
        categories[j["rater"]].update(item_categories(j))
    raters = {}
    for rater, answers in by_rater.items():
        kinds = Counter(j["kind"] for j in answers)
        ties = sum(1 for j in answers if j["kind"] == "rank" and any(len(g) > 1 for g in j["ranking"]))
        pairs = [
            (category, categories[other][item])
            for item, category in categories[rater].items()
            for other in by_rater
            if other != rater and item in categories[other]
        ]
        raters[rater] = {
            "answers": len(answers),
            "tie_share": ties / len(answers),
            "both_bad_share": kinds["both_bad"] / len(answers),
            "skip_share": kinds["skip"] / len(answers),
            "undone": (withdrawn or {}).get(rater, 0),
            "side_bias": _side_bias(answers, mode == "pairwise"),
            "agreement_kappa": cohen_kappa(pairs),
            "shared_ratings": len(pairs),
            **_pace(answers),
        }
    items: dict[Item, Counter] = defaultdict(Counter)
    for per_item in categories.values():
        for item, category in per_item.items():
            items[item][category] += 1
    shared = [c for c in items.values() if sum(c.values()) >= 2]
    return {"raters": raters, "fleiss_kappa": fleiss_kappa(shared), "items_rated_twice_or_more": len(shared)}
