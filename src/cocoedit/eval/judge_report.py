"""The HTML page of ``cocoedit eval judge``, merged with ``cocoedit eval consistency`` output.

One page per comparison: judge settings and prompts, judge tables, the failures, the paper's
Figure-1 view (judge overall score against keep-region PSNR, one point per results folder), then
the consistency sections when a consistency folder is given.
"""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path
from typing import Any

from cocoedit.core.reporting import figure_img, html_page, html_table, section
from cocoedit.eval.judge_bench import GEDIT_SUBSCORES, PER_SAMPLE_FILE
from cocoedit.eval.report import consistency_sections


def _settings(summary: dict[str, Any]) -> str:
    j = summary["judge"]
    prompts = ", ".join(j["templates"])
    source = j["prompt_source"]
    return (
        f'<p class="muted">Benchmark <b>{html.escape(summary["bench"])}</b> at {html.escape(summary["bench_dir"])}. '
        f"Judge: {html.escape(j['backend'])} model <b>{html.escape(j['model'])}</b>"
        + (f" at {html.escape(j['base_url'])}" if j.get("base_url") else "")
        + f". Prompts: <b>{html.escape(source)}</b> ({html.escape(prompts)}). "
        f"Sampling: {html.escape(json.dumps(j['sampling']))}. Images are shown source first, then edited. "
        "Failed samples are left out of every mean and counted here; no score is imputed.</p>" + _replicas(j)
    )


def _replicas(judge: dict[str, Any]) -> str:
    """Per replica: requests, answers, failures by reason, times out of the rotation (several
    replicas, or one that failed)."""
    stats = judge.get("endpoints") or []
    if len(stats) < 2 and not any(s["failures"] for s in stats):
        return ""
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
    return html_table(["judge replica", "requests sent", "answered", "failures", "times out of rotation"], rows)


def _summary_table(summary: dict[str, Any]) -> str:
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
    return html_table(columns, rows)


def _category_table(summary: dict[str, Any]) -> str:
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
    return html_table(columns, rows)


def _failures(out_dir: Path) -> str:
    with open(out_dir / PER_SAMPLE_FILE, newline="", encoding="utf-8") as f:
        bad = [
            [r["results"], r["key"], r["category"], r["status"], r["reason"], r["error"][:300]]
            for r in csv.DictReader(f)
            if r["status"] != "scored"
        ]
    if not bad:
        return '<p class="muted">Every sample was judged in every results folder.</p>'
    return html_table(["results", "key", "category", "status", "reason", "error / reply"], bad)


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


def _lowest_with_reasoning(out_dir: Path, gedit: bool) -> str:
    """Per results folder, the lowest-judged samples with every sub-score and the judge's reasoning."""
    with open(out_dir / PER_SAMPLE_FILE, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "scored"]
    metric = "o" if gedit else "score"
    subs = ["sc", "pq", *GEDIT_SUBSCORES] if gedit else ["c1", "c2", "c3"]
    parts = []
    for label in dict.fromkeys(r["results"] for r in rows):
        mine = sorted((r for r in rows if r["results"] == label), key=lambda r: float(r[metric]))[:LOWEST_SHOWN]
        table = html_table(
            ["key", "category", "O" if gedit else "score", *[SUB_TITLES.get(k, k) for k in subs], "reasoning"],
            [
                [
                    r["key"],
                    r["category"],
                    float(r[metric]),
                    *[float(r[k]) if r.get(k) else None for k in subs],
                    (
                        "raw",
                        f'<span style="white-space:pre-line;text-align:left;display:block">'
                        f"{html.escape(r.get('reasoning', ''))}</span>",
                    ),
                ]
                for r in mine
            ],
            kinds=["auto", "auto", "score", *["score"] * len(subs), "auto"],
        )
        parts.append(f"<h3>{html.escape(label)}</h3>{table}")
    return "".join(parts) or '<p class="muted">No sample was judged.</p>'


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


def _figure1(summary: dict[str, Any], consistency: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    points = figure1_points(summary, consistency)
    if not points:
        return '<p class="muted">No results folder has both a judge score and a keep-region PSNR.</p>'
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, psnr, value in points:
        ax.scatter([psnr], [value], s=40)
        ax.annotate(label, (psnr, value), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel("keep-region PSNR, macro (dB)")
    ax.set_ylabel(next(iter(summary["results"].values()))["headline"]["metric"])
    ax.grid(alpha=0.3)
    note = (
        '<p class="muted">Up = better edits by the judge, right = better preserved keep region '
        "(CoCoEdit's Figure 1). One point per results folder.</p>"
    )
    return note + figure_img(fig, "judge score against keep-region PSNR")


def write_judge_report(out_dir: str | Path, summary: dict[str, Any], consistency_dir: str | Path | None) -> Path:
    """Write ``out_dir/report.html``: judge sections, Figure 1 and the consistency sections."""
    out_dir = Path(out_dir)
    sections = [
        section("Summary: MLLM judge", _settings(summary) + _summary_table(summary)),
        section(
            "Judge score per category" + (" (full set)" if summary["bench"] == "gedit" else ""),
            _category_table(summary),
        ),
        section("Samples not judged", _failures(out_dir)),
        section(
            "Lowest-judged samples, with the judge's reasoning",
            _lowest_with_reasoning(out_dir, summary["bench"] == "gedit")
            + '<p class="muted">Every sample, with its images: <code>cocoedit view --judge</code> '
            "(docs/viewer.md).</p>",
        ),
    ]
    if consistency_dir is not None:
        consistency = json.loads((Path(consistency_dir) / "summary.json").read_text(encoding="utf-8"))
        sections.append(section("Judge score against keep-region PSNR", _figure1(summary, consistency)))
        sections += consistency_sections(consistency_dir)
    page = html_page(
        f"Judge report: {summary['bench']}", sections, subtitle="Results compared: " + ", ".join(summary["results"])
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
