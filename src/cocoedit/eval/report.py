"""The HTML report of ``cocoedit eval consistency`` (``summary.json`` + ``per_sample.csv``)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cocoedit.core.error_map import ERROR_MAP_MAX, colour_scale_image, heatmap_image, keep_error_map
from cocoedit.core.formatting import format_number
from cocoedit.core.images import ImageFileError, open_image, pil_to_tensor
from cocoedit.core.reporting import (
    figure_img,
    html_page,
    html_table,
    image_img,
    mask_overlay,
    pyplot,
    section,
    tile_img,
)

WORST_SAMPLES_SHOWN = 6


def _value(row: dict[str, str], name: str) -> float:
    text = row.get(name, "")
    return float(text) if text not in ("", None) else math.nan


def _is_exact(row: dict[str, str]) -> bool:
    return row["status"] == "ok" and _value(row, "keep_mse") == 0.0


def _psnr_histogram(rows: list[dict[str, str]], labels: Sequence[str]) -> str:
    fig = psnr_histogram_figure(rows, labels)
    if fig is None:
        return '<p class="muted">Every scored keep region is an exact copy: there is no distribution to draw.</p>'
    return figure_img(fig, "keep-region PSNR histogram")


def psnr_histogram_figure(rows: list[dict[str, str]], labels: Sequence[str]) -> Any:
    """Keep-region PSNR per results folder; exact copies are counted in the legend, not drawn.
    ``None`` when there is nothing to draw."""
    plt = pyplot()
    drawn = {
        label: [
            _value(r, "keep_psnr") for r in rows if r["results"] == label and r["status"] == "ok" and not _is_exact(r)
        ]
        for label in labels
    }
    exact = {label: sum(_is_exact(r) for r in rows if r["results"] == label) for label in labels}
    finite = [v for vals in drawn.values() for v in vals if math.isfinite(v)]
    if not finite:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    bins = np.linspace(min(finite), max(finite) + 1e-6, 31)
    for label in labels:
        note = f" ({exact[label]} exact, not drawn)" if exact[label] else ""
        ax.hist([v for v in drawn[label] if math.isfinite(v)], bins=bins, alpha=0.55, label=label + note)
    ax.set_xlabel("keep-region PSNR (dB)")
    ax.set_ylabel("samples")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _category_bars(rows: list[dict[str, str]], labels: Sequence[str]) -> str:
    """Per-category mean keep PSNR of the non-exact samples; a category of exact copies only is
    labelled "exact" instead of a bar that would squash the scale."""
    plt = pyplot()
    categories = sorted({r["category"] for r in rows})
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(categories) + 2), 3.6))
    width = 0.8 / max(len(labels), 1)
    x = np.arange(len(categories))
    for i, label in enumerate(labels):
        means, all_exact = [], []
        for cat in categories:
            mine = [r for r in rows if r["results"] == label and r["category"] == cat and r["status"] == "ok"]
            inexact = [_value(r, "keep_psnr") for r in mine if not _is_exact(r)]
            means.append(sum(inexact) / len(inexact) if inexact else np.nan)
            all_exact.append(bool(mine) and not inexact)
        ax.bar(x + i * width, means, width, label=label, color=f"C{i}")
        for j, flag in enumerate(all_exact):
            if flag:
                ax.annotate(
                    "exact",
                    (x[j] + i * width, 0),
                    xycoords=("data", "axes fraction"),
                    xytext=(0, 3),
                    textcoords="offset points",
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color=f"C{i}",
                )
    ax.set_xlim(-width, len(categories) - 1 + width * len(labels))
    ax.set_xticks(x + width * (len(labels) - 1) / 2, categories, rotation=30, ha="right")
    ax.set_ylabel("keep-region PSNR (dB), exact copies left out")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure_img(fig, "per-category keep_psnr")


def _error_tile(source: Image.Image, result: Image.Image, mask_file: Image.Image) -> Image.Image:
    src = pil_to_tensor(source.convert("RGB"))
    res = pil_to_tensor(result.convert("RGB").resize(source.size, Image.BICUBIC))
    keep = np.asarray(mask_file.convert("L").resize(source.size, Image.NEAREST)) >= 128
    edit = 1.0 - pil_to_tensor(Image.fromarray((keep * 255).astype(np.uint8)))[:1]
    return heatmap_image(keep_error_map(res, src, edit))


def psnr_caption(row: dict[str, str]) -> str:
    if row["status"] != "ok":
        return row["status"]
    return "exact" if _is_exact(row) else f"{format_number(_value(row, 'keep_psnr'), 'db')} dB"


def sample_comparison(key: str, rows: list[dict[str, str]], labels: Sequence[str], own: str | None = None) -> str:
    """One sample across every results folder: source, edit region, then result and keep-region
    error map per folder, all tiles the same size."""
    mine = {r["results"]: r for r in rows if r["key"] == key}
    first = next(iter(mine.values()))
    try:
        source = open_image(first["source_path"])
        mask_file = open_image(first["mask_path"])
    except ImageFileError as e:
        return f'<p class="bad">{html.escape(key)}: {html.escape(str(e))}</p>'
    # One column per image: source over its edit region, then each result over its error map.
    columns = [
        tile_img(source, "source") + tile_img(mask_overlay(source, mask_file, "white_is_keep"), "edit region (red)")
    ]
    for label in labels:
        row = mine.get(label)
        if row is None or row["status"] != "ok":
            columns.append(
                f'<p class="bad tile">{html.escape(label)}: {html.escape(row["status"] if row else "absent")}</p>'
            )
            continue
        try:
            result = open_image(row["result_path"])
        except ImageFileError as e:
            columns.append(f'<p class="bad tile">{html.escape(label)}: {html.escape(str(e))}</p>')
            continue
        columns.append(
            tile_img(result, f"{label}: keep PSNR {psnr_caption(row)}", own=label == own)
            + tile_img(_error_tile(source, result, mask_file), f"{label}: keep-region error", own=label == own)
        )
    tiles = [f'<div class="tilecol">{c}</div>' for c in columns]
    head = (
        f"<p><b>{html.escape(key)}</b> ({html.escape(first['category'])})"
        + (
            f': <span class="instruction">{html.escape(first.get("instruction", ""))}</span>'
            if first.get("instruction")
            else ""
        )
        + "</p>"
    )
    return f'<div class="sample">{head}<div class="tiles">{"".join(tiles)}</div></div>'


def _colour_scale() -> str:
    return (
        f'<p class="muted">Error maps: mean absolute difference to the source per pixel, keep region only '
        f"(edit region grey), one scale for all: black = 0, brightest = {ERROR_MAP_MAX} "
        f"({ERROR_MAP_MAX * 255:.0f} grey levels) or more. {image_img(colour_scale_image(), max_side=220)}</p>"
    )


def _worst_samples(rows: list[dict[str, str]], label: str, labels: Sequence[str]) -> str:
    scored = [r for r in rows if r["results"] == label and r["status"] == "ok" and not _is_exact(r)]
    scored.sort(key=lambda r: _value(r, "keep_psnr"))
    if not scored:
        return '<p class="muted">No scored sample that is not an exact copy.</p>'
    return "".join(sample_comparison(r["key"], rows, labels, own=label) for r in scored[:WORST_SAMPLES_SHOWN])


def _perceptual_label(summary: dict[str, Any], metric: str) -> str:
    info = (summary.get("perceptual") or {}).get(metric, {})
    names = {"keep_lpips": "keep LPIPS", "keep_dino": "keep DINO similarity", "keep_clip": "keep CLIP similarity"}
    uncalibrated = metric == "keep_lpips" and not info.get("calibrated", True)
    return names[metric] + (" (uncalibrated)" if uncalibrated else "") + " macro"


def consistency_sections(out_dir: str | Path) -> list[str]:
    """Report sections for the ``cocoedit eval consistency`` output in ``out_dir``."""
    import csv

    out_dir = Path(out_dir)
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    with open(out_dir / "per_sample.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    results = summary["results"]
    labels = list(results)
    perceptual = [
        m for m in ("keep_lpips", "keep_dino", "keep_clip") if m in next(iter(results.values()))["overall_macro"]
    ]

    table_rows = []
    for label, res in results.items():
        c, mac, wtd = res["counts"], res["overall_macro"], res["overall_weighted"]
        failed = c["samples"] - c["scored"]
        inexact = [
            _value(r, "keep_psnr") for r in rows if r["results"] == label and r["status"] == "ok" and not _is_exact(r)
        ]
        table_rows.append(
            [
                label,
                c["samples"],
                c["scored"],
                ("raw", f'<span class="{"bad" if failed else ""}">{failed}</span>'),
                sum(_is_exact(r) for r in rows if r["results"] == label),
                mac["keep_psnr"],
                sum(inexact) / len(inexact) if inexact else None,
                mac["keep_ssim"],
                wtd["keep_ssim"],
                mac["keep_mae"],
                mac["edit_change"],
                *[mac[m] for m in perceptual],
            ]
        )
    notes = ""
    for m in perceptual:
        info = summary["perceptual"][m]
        notes += f" {html.escape(_perceptual_label(summary, m))}: {html.escape(json.dumps(info))}."
    settings = (
        f'<p class="muted">Benchmark <b>{html.escape(summary["bench"])}</b> at '
        f"{html.escape(summary['bench_dir'])}. Keep region = where the benchmark mask is white. "
        f"SSIM mode: {html.escape(summary['ssim_mode'])}; results resized to the source "
        f"resolution with {html.escape(summary['resize_filter'])} when they differ. "
        "Macro = mean of the per-category means (as GEdit-Bench reports); mean = over all scored "
        "samples. Edit change = mean absolute difference on the edit region. A keep region "
        'reproduced exactly is an <b>exact copy</b>: shown as "exact" (written as 100 dB in the files), '
        "counted in its own column and left out of the plots. Definitions: docs/metrics.md."
        + (
            f" Perceptual metrics, masking: {html.escape(summary['perceptual']['masking'])}." + notes
            if perceptual
            else ""
        )
        + "</p>"
    )
    summary_html = settings + html_table(
        [
            "results",
            "samples",
            "scored",
            "not scored",
            "exact copies",
            "keep PSNR macro",
            "keep PSNR mean, exact copies left out",
            "keep SSIM macro",
            "keep SSIM mean",
            "keep MAE macro",
            "edit change macro",
            *[_perceptual_label(summary, m) for m in perceptual],
        ],
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

    failures = []
    for r in rows:
        if r["status"] != "ok":
            failures.append([r["results"], r["key"], r["category"], r["status"], r["error"]])
    failures_html = (
        html_table(["results", "key", "category", "status", "reason"], failures)
        if failures
        else '<p class="muted">Every sample was scored in every results folder.</p>'
    )
    return [
        section("Summary: keep-region consistency", summary_html),
        section("Per category", html_table(cat_columns, cat_rows) + _category_bars(rows, labels)),
        section("Keep-region PSNR distribution", _psnr_histogram(rows, labels)),
        *[
            section(
                f"Worst samples: {label}", (_colour_scale() if i == 0 else "") + _worst_samples(rows, label, labels)
            )
            for i, label in enumerate(labels)
        ],
        section(
            f"Samples not scored ({len(failures)})",
            failures_html
            + '<p class="muted">Every sample side by side, sortable and filterable: <code>cocoedit view</code> '
            "(docs/viewer.md).</p>",
        ),
    ]


def write_consistency_report(out_dir: str | Path) -> Path:
    """Write ``out_dir/report.html`` from the consistency outputs in ``out_dir``."""
    out_dir = Path(out_dir)
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    labels = ", ".join(summary["results"])
    page = html_page(
        f"Consistency report: {summary['bench']}", consistency_sections(out_dir), subtitle=f"Results compared: {labels}"
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
