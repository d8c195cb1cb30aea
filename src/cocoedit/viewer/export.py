"""Ratings out of the study's SQLite file: the aggregate (win rates, Bradley–Terry on the Elo
scale, bootstrap intervals), the raters' quality (:mod:`.quality`) and the raw answers, as
``ratings.csv`` and ``ratings_summary.json``.

What counts: a ``rank`` answer is a judgement; ``both_bad`` is a tie between the two results (no
preference) and is also counted apart; a ``skip`` is no judgement. With ``min_agreement``, raters
whose agreement with the others (Cohen's κ) is below it are left out of the standings; raters whose
agreement cannot be measured (no item shared with another rater) stay in and are listed.

Nothing about the answers stops an export: with ``prior = 0`` a folder that won (or lost) every
comparison has an unbounded score, reported as such (``unbounded``, Elo null) with a warning, and a
share of degenerate bootstrap resamples above :data:`DEGENERATE_WARNING` is a warning too (the
interval leaves them out, so it is biased).
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cocoedit.core.formatting import format_number
from cocoedit.viewer.aggregate import fit_standings
from cocoedit.viewer.quality import rater_quality
from cocoedit.viewer.ratings import RatingError, RatingStore

CSV_FILE = "ratings.csv"
SUMMARY_FILE = "ratings_summary.json"
DEGENERATE_WARNING = 0.05  # share of degenerate resamples above which the interval is called biased
CSV_COLUMNS = ("task", "rater", "sample_key", "category", "shown", "answer", "ranking", "winner", "created")


def elo_text(standing: dict[str, Any]) -> str:
    """A standing's Bradley–Terry score on the Elo scale as text: ``1085``, ``+∞ (unbounded)``, ``–``."""
    if standing.get("unbounded"):
        return f"{'+' if standing['unbounded'] == 'above' else '−'}∞ (unbounded)"
    return format_number(standing.get("elo"), "int")


def ranking_text(groups: list[list[str]]) -> str:
    """``a > b = c`` for ``[["a"], ["b", "c"]]``."""
    return " > ".join(" = ".join(group) for group in groups)


def _winner(judgement: dict[str, Any]) -> str:
    """Pairs only: the better folder, ``tie``, ``both bad`` or ``skip``; empty for rankings."""
    if len(judgement["shown"]) != 2:
        return "skip" if judgement["kind"] == "skip" else ""
    if judgement["kind"] != "rank":
        return judgement["kind"].replace("_", " ")
    groups = judgement["ranking"]
    return "tie" if len(groups) == 1 else groups[0][0]


def ratings_summary(
    store: RatingStore, prior: float = 1.0, bootstrap: int = 1000, seed: int = 0, min_agreement: float | None = None
) -> dict[str, Any]:
    """The study, answers per rater and kind, rater quality, the standings (best first, with how
    many bootstrap resamples were degenerate) and every answer per sample."""
    study = store.study()
    if not study:
        raise RatingError(f"{store.path}: no rating study recorded (start one with `cocoedit rate serve`)")
    labels = list(study["folders"])
    answers = store.judgements()
    quality = rater_quality(answers, study["mode"], store.withdrawn_counts())
    dropped = sorted(
        rater
        for rater, q in quality["raters"].items()
        if min_agreement is not None and q["agreement_kappa"] is not None and q["agreement_kappa"] < min_agreement
    )
    counted = [j for j in answers if j["kind"] != "skip" and j["rater"] not in dropped]
    table, boot = fit_standings([j["ranking"] for j in counted], labels, prior=prior, resamples=bootstrap, seed=seed)
    both_bad = Counter(label for j in counted if j["kind"] == "both_bad" for label in j["shown"])
    warnings = [
        f"{s.label} {'won' if s.unbounded == 'above' else 'lost'} every comparison it had: with --prior 0 its "
        f"Bradley–Terry score is unbounded ({'+' if s.unbounded == 'above' else '-'}infinity, written as null "
        "with unbounded = " + s.unbounded + "); use a prior > 0 for a finite score"
        for s in table
        if s.unbounded
    ]
    if boot.resamples and boot.degenerate / boot.resamples > DEGENERATE_WARNING:
        warnings.append(
            f"{boot.degenerate} of {boot.resamples} bootstrap resamples ({boot.degenerate / boot.resamples:.0%}) had "
            f"no finite fit and were left out (over {DEGENERATE_WARNING:.0%}): the intervals are biased; "
            "use a prior > 0"
        )
    per_sample: dict[str, list[dict[str, Any]]] = {}
    for j in answers:
        per_sample.setdefault(j["sample_key"], []).append(
            {"rater": j["rater"], "kind": j["kind"], "ranking": j["ranking"]}
        )
    return {
        "study": study,
        "judgements": len(counted),
        "answers": dict(Counter(j["kind"] for j in answers)),
        "raters": dict(Counter(j["rater"] for j in answers).most_common()),
        "method": {
            "model": "Bradley-Terry, ties as half a win each way, fitted by MM iterations",
            "prior_ties_per_pair": prior,
            "scale": "elo = 1000 + 400 * theta / ln(10)",
            "interval": f"95 % percentile bootstrap over answers, {bootstrap} resamples, seed {seed}",
            "degenerate_resamples": boot.degenerate,
            "both_bad": "counted as a tie between the two results, and counted apart per folder",
            "skips": "left out (no judgement)",
        },
        "quality": quality,
        "min_agreement": min_agreement,
        "raters_dropped": dropped,
        "raters_unmeasured": sorted(r for r, q in quality["raters"].items() if q["agreement_kappa"] is None),
        "standings": [{**s.as_dict(), "both_bad": both_bad.get(s.label, 0)} for s in table],
        "per_sample": per_sample,
        "warnings": warnings,
    }


def export_ratings(
    db: str | Path,
    out_dir: str | Path,
    prior: float = 1.0,
    bootstrap: int = 1000,
    seed: int = 0,
    min_agreement: float | None = None,
) -> tuple[Path, Path, dict[str, Any]]:
    """Write ``ratings.csv`` and ``ratings_summary.json`` into ``out_dir``; return both paths and the summary."""
    db = Path(db)
    if not db.is_file():
        raise RatingError(f"{db}: ratings file not found")
    store = RatingStore(db)
    try:
        summary = ratings_summary(store, prior, bootstrap, seed, min_agreement)
        judgements = store.judgements()
    finally:
        store.close()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / CSV_FILE, out_dir / SUMMARY_FILE
    tmp = csv_path.with_name(f".{CSV_FILE}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for j in judgements:
            writer.writerow(
                {
                    "task": j["task"],
                    "rater": j["rater"],
                    "sample_key": j["sample_key"],
                    "category": j["category"],
                    "shown": " | ".join(j["shown"]),
                    "answer": j["kind"],
                    "ranking": ranking_text(j["ranking"]),
                    "winner": _winner(j),
                    "created": datetime.fromtimestamp(j["created"], UTC).isoformat(timespec="seconds"),
                }
            )
    os.replace(tmp, csv_path)
    tmp_json = json_path.with_name(f".{SUMMARY_FILE}.tmp")
    tmp_json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    os.replace(tmp_json, json_path)
    return csv_path, json_path, summary
