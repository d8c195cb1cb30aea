"""Ratings out of the study's SQLite file: the aggregate (win rates, Bradley–Terry on the Elo
scale, bootstrap intervals) and the raw answers, as ``ratings.csv`` and ``ratings_summary.json``."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cocoedit.viewer.aggregate import standings
from cocoedit.viewer.ratings import RatingError, RatingStore

CSV_FILE = "ratings.csv"
SUMMARY_FILE = "ratings_summary.json"
CSV_COLUMNS = ("task", "rater", "sample_key", "category", "shown", "ranking", "winner", "created")


def ranking_text(groups: list[list[str]]) -> str:
    """``a > b = c`` for ``[["a"], ["b", "c"]]``."""
    return " > ".join(" = ".join(group) for group in groups)


def ratings_summary(store: RatingStore, prior: float = 1.0, bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The study, answer counts per rater, the standings (best first) and every answer per sample."""
    study = store.study()
    if not study:
        raise RatingError(f"{store.path}: no rating study recorded (start one with `cocoedit rate serve`)")
    labels = list(study["folders"])
    judgements = store.judgements()
    table = standings([j["ranking"] for j in judgements], labels, prior=prior, bootstrap=bootstrap, seed=seed)
    per_sample: dict[str, list[dict[str, Any]]] = {}
    for j in judgements:
        per_sample.setdefault(j["sample_key"], []).append({"rater": j["rater"], "ranking": j["ranking"]})
    return {
        "study": study,
        "judgements": len(judgements),
        "raters": dict(Counter(j["rater"] for j in judgements).most_common()),
        "method": {
            "model": "Bradley-Terry, ties as half a win each way, fitted by MM iterations",
            "prior_ties_per_pair": prior,
            "scale": "elo = 1000 + 400 * theta / ln(10)",
            "interval": f"95 % percentile bootstrap over answers, {bootstrap} resamples, seed {seed}",
        },
        "standings": [s.as_dict() for s in table],
        "per_sample": per_sample,
    }


def export_ratings(
    db: str | Path, out_dir: str | Path, prior: float = 1.0, bootstrap: int = 1000, seed: int = 0
) -> tuple[Path, Path, dict[str, Any]]:
    """Write ``ratings.csv`` and ``ratings_summary.json`` into ``out_dir``; return both paths and the summary."""
    db = Path(db)
    if not db.is_file():
        raise RatingError(f"{db}: ratings file not found")
    store = RatingStore(db)
    try:
        summary = ratings_summary(store, prior, bootstrap, seed)
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
            groups = j["ranking"]
            winner = ("tie" if len(groups) == 1 else groups[0][0]) if len(j["shown"]) == 2 else ""
            writer.writerow(
                {
                    "task": j["task"],
                    "rater": j["rater"],
                    "sample_key": j["sample_key"],
                    "category": j["category"],
                    "shown": " | ".join(j["shown"]),
                    "ranking": ranking_text(groups),
                    "winner": winner,
                    "created": datetime.fromtimestamp(j["created"], UTC).isoformat(timespec="seconds"),
                }
            )
    os.replace(tmp, csv_path)
    json_path.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return csv_path, json_path, summary
