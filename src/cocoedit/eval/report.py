"""The HTML report of ``cocoedit eval consistency`` (``summary.json`` + ``per_sample.csv``)."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from cocoedit.core.images import ImageFileError, open_image
from cocoedit.core.reporting import (
    figure_img,
    html_page,
    html_table,
    image_img,
    mask_overlay,
    pyplot,
    section,
)

WORST_SAMPLES_SHOWN = 6


def _psnr_histogram(by_label: dict[str, list[float]]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    finite = [v for vals in by_label.values() for v in vals if math.isfinite(v)]
    if not finite:
        plt.close(fig)
        return '<p class="muted">No scored sample.</p>'
    bins = np.linspace(min(finite), max(finite) + 1e-6, 31)
    for label, values in by_label.items():
        ax.hist([v for v in values if math.isfinite(v)], bins=bins, alpha=0.55, label=label)
    ax.set_xlabel("keep-region PSNR (dB)")
    ax.set_ylabel("samples")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure_img(fig, "keep-region PSNR histogram")


def _category_bars(summary: dict[str, Any], metric: str, axis_label: str) -> str:
    plt = pyplot()
    results = summary["results"]
    categories = sorted({c for r in results.values() for c in r["per_category"]})
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(categories) + 2), 3.6))
    width = 0.8 / max(len(results), 1)
    x = np.arange(len(categories))
    for i, (label, res) in enumerate(results.items()):
        vals = [res["per_category"].get(c, {}).get(metric) for c in categories]
        ax.bar(x + i * width, [np.nan if v is None else v for v in vals], width, label=label)
    ax.set_xticks(x + width * (len(results) - 1) / 2, categories, rotation=30, ha="right")
    ax.set_ylabel(axis_label)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure_img(fig, f"per-category {metric}")


def _worst_samples(rows: list[dict[str, str]], label: str) -> str:
    scored = [r for r in rows if r["results"] == label and r["status"] == "ok"]
    scored.sort(key=lambda r: float(r["keep_psnr"]))
    parts = []
    for r in scored[:WORST_SAMPLES_SHOWN]:
        try:
            source = open_image(r["source_path"])
            result = open_image(r["result_path"])
            overlay = mask_overlay(source, open_image(r["mask_path"]), "white_is_keep")
        except ImageFileError as e:
            parts.append(f'<p class="bad">{html.escape(r["key"])}: {html.escape(str(e))}</p>')
            continue
        caption = (f"{r['key']} ({r['category']}): keep PSNR {float(r['keep_psnr']):.2f} dB, "
                   f"SSIM {float(r['keep_ssim']):.4f}")
        parts.append(
            f'<div class="thumbs"><p>{html.escape(caption)}</p>'
            + image_img(source, "source") + image_img(result, "result")
            + image_img(overlay, "edit region (red)") + "</div>"
        )
    return "".join(parts) or '<p class="muted">No scored sample.</p>'


def consistency_sections(out_dir: str | Path) -> list[str]:
    """Report sections for the ``cocoedit eval consistency`` output in ``out_dir``."""
    import csv

    out_dir = Path(out_dir)
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    with open(out_dir / "per_sample.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    results = summary["results"]

    table_rows = []
    for label, res in results.items():
        c, mac, wtd = res["counts"], res["overall_macro"], res["overall_weighted"]
        failed = c["samples"] - c["scored"]
        table_rows.append([
            label, c["samples"], c["scored"],
            ("raw", f'<span class="{"bad" if failed else ""}">{failed}</span>'),
            mac["keep_psnr"], wtd["keep_psnr"], mac["keep_ssim"], wtd["keep_ssim"],
            mac["keep_mae"], mac["edit_change"],
        ])
    settings = (
        f'<p class="muted">Benchmark <b>{html.escape(summary["bench"])}</b> at '
        f'{html.escape(summary["bench_dir"])}. Keep region = where the benchmark mask is white. '
        f'SSIM mode: {html.escape(summary["ssim_mode"])}; results resized to the source '
        f'resolution with {html.escape(summary["resize_filter"])} when they differ. '
        "Macro = mean of the per-category means (as GEdit-Bench reports); mean = over all scored "
        "samples. Edit change = mean absolute difference on the edit region. A keep region "
        "reproduced exactly scores 100 dB. Definitions: "
        "docs/metrics.md.</p>"
    )
    summary_html = settings + html_table(
        ["results", "samples", "scored", "not scored", "keep PSNR macro", "keep PSNR mean",
         "keep SSIM macro", "keep SSIM mean", "keep MAE macro", "edit change macro"],
        table_rows,
    )

    categories = sorted({c for r in results.values() for c in r["per_category"]})
    cat_columns = ["category"]
    for label in results:
        cat_columns += [f"{label} n", f"{label} PSNR", f"{label} SSIM"]
    cat_rows = []
    for cat in categories:
        row: list[Any] = [cat]
        for res in results.values():
            entry = res["per_category"].get(cat, {})
            row += [entry.get("n"), entry.get("keep_psnr"), entry.get("keep_ssim")]
        cat_rows.append(row)

    by_label = {
        label: [float(r["keep_psnr"]) for r in rows if r["results"] == label and r["status"] == "ok"]
        for label in results
    }
    failures = []
    for r in rows:
        if r["status"] != "ok":
            failures.append([r["results"], r["key"], r["category"], r["status"], r["error"]])
    failures_html = (
        html_table(["results", "key", "category", "status", "reason"], failures)
        if failures else '<p class="muted">Every sample was scored in every results folder.</p>'
    )
    return [
        section("Summary: keep-region consistency", summary_html),
        section("Per category", html_table(cat_columns, cat_rows)
                + _category_bars(summary, "keep_psnr", "keep-region PSNR (dB)")),
        section("Keep-region PSNR distribution", _psnr_histogram(by_label)),
        *[section(f"Worst samples: {label}", _worst_samples(rows, label)) for label in results],
        section(f"Samples not scored ({len(failures)})", failures_html),
    ]


def write_consistency_report(out_dir: str | Path) -> Path:
    """Write ``out_dir/report.html`` from the consistency outputs in ``out_dir``."""
    out_dir = Path(out_dir)
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    labels = ", ".join(summary["results"])
    page = html_page(
        f"Consistency report: {summary['bench']}",
        consistency_sections(out_dir),
        subtitle=f"Results compared: {labels}",
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
