"""The HTML page of ``cocoedit eval judge``, merged with ``cocoedit eval consistency`` output.

One page per comparison: judge settings and prompts, judge tables, the failures, the paper's
Figure-1 view (judge overall score against keep-region PSNR, one point per results folder), then
the consistency sections when a consistency folder is given.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from cocoedit.core.pages import render
from cocoedit.core.paths import write_text_atomic
from cocoedit.core.reporting import Cell, Picture, Table, plot, pyplot, table
from cocoedit.eval.judge_bench import GEDIT_SUBSCORES, PER_SAMPLE_FILE
from cocoedit.eval.report import consistency_context


def _replicas(judge: dict[str, Any]) -> Table | None:
    """Per replica: requests, answers, failures by reason, times out of the rotation (several
    replicas, or one that failed); None otherwise."""
    stats = judge.get("endpoints") or []
    if len(stats) < 2 and not any(s["failures"] for s in stats):
        return None
    rows = [
        [
            s["base_url"],
            s["requests"],
            s["answered"],
            ", ".join(f"{r} x{n}" for r, n in sorted(s["failures"].items())) or "none",
            s["ejections"],
        ]
        for s in stats
    ]
    return table(["judge replica", "requests sent", "answered", "failures", "times out of rotation"], rows)


def _summary_table(summary: dict[str, Any]) -> Table:
    rows = []
    gedit = summary["bench"] == "gedit"
    for label, res in summary["results"].items():
        c = res["counts"]
        row: list[Any] = [label, c["samples"], c["scored"], c["missing"], c["unreadable"], c["failed"]]
        if gedit:
            lang = "en" if "en" in res["per_language"] else next(iter(res["per_language"]))
            full, inter = res["per_language"][lang]["full"], res["per_language"][lang]["intersection"]
            full = full["overall"]
            row += [lang, full["sc"], full["pq"], full["o"], None if inter is None else inter["overall"]["o"]] + [
                full.get(k) for k in GEDIT_SUBSCORES
            ]
        else:
            row += [res["overall"]["score"], res["categories_scored"]]
        rows.append(row)
    columns = ["results", "samples", "scored", "missing", "unreadable", "failed"]
    columns += (
        [
            "language",
            "SC",
            "PQ",
            "O",
            "O intersection",
            "SC: success",
            "SC: overedit",
            "PQ: naturalness",
            "PQ: artifacts",
        ]
        if gedit
        else ["overall", "types scored"]
    )
    return table(columns, rows)


def _category_table(summary: dict[str, Any]) -> Table:
    gedit = summary["bench"] == "gedit"
    tables = {}
    for label, res in summary["results"].items():
        if gedit:
            lang = "en" if "en" in res["per_language"] else next(iter(res["per_language"]))
            tables[label] = res["per_language"][lang]["full"]["per_category"]
        else:
            tables[label] = res["per_category"]
    metric = "o" if gedit else "score"
    categories = sorted({c for t in tables.values() for c in t})
    columns = ["category"] + [f"{label} {h}" for label in tables for h in ("n", "O" if gedit else "score")]
    rows = [
        [cat] + [v for t in tables.values() for v in (t.get(cat, {}).get("n"), t.get(cat, {}).get(metric))]
        for cat in categories
    ]
    return table(columns, rows)


def _failures(out_dir: Path) -> Table | None:
    """The samples not judged; None when every sample was judged."""
    with open(out_dir / PER_SAMPLE_FILE, newline="", encoding="utf-8") as f:
        bad = [
            [r["results"], r["key"], r["category"], r["status"], r["reason"], r["error"][:300]]
            for r in csv.DictReader(f)
            if r["status"] != "scored"
        ]
    return table(["results", "key", "category", "status", "reason", "error / reply"], bad) if bad else None


LOWEST_SHOWN = 5
SUB_TITLES = {
    "sc": "SC",
    "pq": "PQ",
    "success": "SC: success",
    "overedit": "SC: overedit",
    "naturalness": "PQ: naturalness",
    "artifacts": "PQ: artifacts",
    "c1": "criterion 1",
    "c2": "criterion 2",
    "c3": "criterion 3",
}


def _lowest_with_reasoning(out_dir: Path, gedit: bool) -> list[tuple[str, Table]]:
    """Per results folder, the lowest-judged samples with every sub-score and the judge's reasoning."""
    with open(out_dir / PER_SAMPLE_FILE, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "scored"]
    metric = "o" if gedit else "score"
    subs = ["sc", "pq", *GEDIT_SUBSCORES] if gedit else ["c1", "c2", "c3"]
    parts = []
    for label in dict.fromkeys(r["results"] for r in rows):
        mine = sorted((r for r in rows if r["results"] == label), key=lambda r: float(r[metric]))[:LOWEST_SHOWN]
        lowest = table(
            ["key", "category", "O" if gedit else "score", *[SUB_TITLES.get(k, k) for k in subs], "reasoning"],
            [
                [
                    r["key"],
                    r["category"],
                    float(r[metric]),
                    *[float(r[k]) if r.get(k) else None for k in subs],
                    Cell(r.get("reasoning", ""), "reasoning"),
                ]
                for r in mine
            ],
            kinds=["auto", "auto", "score", *["score"] * len(subs), "auto"],
        )
        parts.append((label, lowest))
    return parts


def figure1_points(summary: dict[str, Any], consistency: dict[str, Any]) -> list[tuple[str, float, float]]:
    """``(label, keep PSNR macro, judge headline)`` for results folders present in both summaries."""
    points = []
    for label, res in summary["results"].items():
        other = consistency["results"].get(label)
        judge_value = res["headline"]["value"]
        if other is None or judge_value is None:
            continue
        psnr = other["overall_macro"]["keep_psnr"]
        if psnr is not None:
            points.append((label, float(psnr), float(judge_value)))
    return points


def _figure1(summary: dict[str, Any], consistency: dict[str, Any]) -> Picture | None:
    """None when no results folder has both a judge score and a keep-region PSNR."""
    plt = pyplot()
    points = figure1_points(summary, consistency)
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, psnr, value in points:
        ax.scatter([psnr], [value], s=40)
        ax.annotate(label, (psnr, value), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel("keep-region PSNR, macro (dB)")
    ax.set_ylabel(next(iter(summary["results"].values()))["headline"]["metric"])
    ax.grid(alpha=0.3)
    return plot(fig, "judge score against keep-region PSNR")


def write_judge_report(out_dir: str | Path, summary: dict[str, Any], consistency_dir: str | Path | None) -> Path:
    """Write ``out_dir/report.html``: judge sections, Figure 1 and the consistency sections."""
    out_dir = Path(out_dir)
    context: dict[str, Any] = {
        "title": f"Judge report: {summary['bench']}",
        "subtitle": "Results compared: " + ", ".join(summary["results"]),
        "summary": summary,
        "judge": summary["judge"],
        "sampling": json.dumps(summary["judge"]["sampling"]),
        "summary_table": _summary_table(summary),
        "replicas": _replicas(summary["judge"]),
        "category_table": _category_table(summary),
        "failures": _failures(out_dir),
        "lowest": _lowest_with_reasoning(out_dir, summary["bench"] == "gedit"),
        "consistency": None,
        "figure1": None,
    }
    if consistency_dir is not None:
        consistency = json.loads((Path(consistency_dir) / "summary.json").read_text(encoding="utf-8"))
        context["figure1"] = _figure1(summary, consistency)
        context["consistency"] = consistency_context(consistency_dir)
    path = out_dir / "report.html"
    write_text_atomic(path, render("judge_report.html", **context))
    return path
