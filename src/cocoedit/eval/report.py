"""The HTML report of ``cocoedit eval consistency`` (``summary.json`` + ``per_sample.csv``).

:func:`consistency_context` reads the outputs into what ``consistency_sections.html`` lays out
(shared with the judge report); :func:`write_consistency_report` renders ``consistency_report.html``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from cocoedit.core.error_map import ERROR_MAP_MAX, colour_scale_image, heatmap_image, keep_error_map, pooled_error_map
from cocoedit.core.formatting import format_number
from cocoedit.core.images import ImageFileError, load_edit_mask, open_image, pil_to_tensor
from cocoedit.core.masks import resize_mask
from cocoedit.core.pages import render
from cocoedit.core.paths import write_text_atomic
from cocoedit.core.reporting import (
    THUMBNAIL_SIDE,
    Cell,
    Picture,
    display_scale,
    mask_overlay,
    plot,
    pyplot,
    table,
    thumbnail,
)

WORST_SAMPLES_SHOWN = 6


def _value(row: dict[str, str], name: str) -> float:
    text = row.get(name, "")
    return float(text) if text not in ("", None) else math.nan


def _is_exact(row: dict[str, str]) -> bool:
    return row["status"] == "ok" and _value(row, "keep_mse") == 0.0


def _psnr_histogram(rows: list[dict[str, str]], labels: Sequence[str]) -> Picture | None:
    """None when every scored keep region is an exact copy (nothing to draw)."""
    fig = psnr_histogram_figure(rows, labels)
    return None if fig is None else plot(fig, "keep-region PSNR histogram")


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


def _category_bars(rows: list[dict[str, str]], labels: Sequence[str]) -> Picture:
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
    return plot(fig, "per-category keep_psnr")


def _error_tile(source: Image.Image, result: Image.Image, edit: torch.Tensor) -> Image.Image:
    """Keep-region error map of ``result`` against ``source``; ``edit`` ``[1, H, W]`` at the source's size."""
    src = pil_to_tensor(source.convert("RGB"))
    res = pil_to_tensor(result.convert("RGB").resize(source.size, Image.BICUBIC))
    return heatmap_image(pooled_error_map(keep_error_map(res, src, edit), THUMBNAIL_SIDE))


def psnr_caption(row: dict[str, str]) -> str:
    if row["status"] != "ok":
        return row["status"]
    return "exact" if _is_exact(row) else f"{format_number(_value(row, 'keep_psnr'), 'db')} dB"


@dataclass
class TileColumn:
    """One column of a sample comparison: its tiles top to bottom, or the problem that replaced them."""

    tiles: list[Picture] = field(default_factory=list)
    problem: str = ""


@dataclass
class SampleComparison:
    key: str
    category: str
    instruction: str
    columns: list[TileColumn] = field(default_factory=list)
    problem: str = ""


def sample_comparison(
    key: str, rows: list[dict[str, str]], labels: Sequence[str], own: str | None = None
) -> SampleComparison:
    """One sample across every results folder: source, edit region, then result and keep-region
    error map per folder, all at the source's scale."""
    mine = {r["results"]: r for r in rows if r["key"] == key}
    first = next(iter(mine.values()))
    view = SampleComparison(key, first["category"], first.get("instruction", "") or "")
    try:
        source = open_image(first["source_path"])
        edit_mask = load_edit_mask(first["mask_path"], "white_is_keep")
        if tuple(edit_mask.shape[-2:]) != (source.height, source.width):
            edit_mask = resize_mask(edit_mask[None], (source.height, source.width))[0]
    except ImageFileError as e:
        view.problem = f"{key}: {e}"
        return view
    scale = display_scale(source.size)
    # One column per image: source over its edit region, then each result over its error map.
    view.columns.append(
        TileColumn(
            [
                thumbnail(source, "source", scale=scale),
                thumbnail(mask_overlay(source, edit_mask), "edit region (red)", scale=scale),
            ]
        )
    )
    for label in labels:
        row = mine.get(label)
        if row is None or row["status"] != "ok":
            view.columns.append(TileColumn(problem=f"{label}: {row['status'] if row else 'absent'}"))
            continue
        try:
            result = open_image(row["result_path"])
        except ImageFileError as e:
            view.columns.append(TileColumn(problem=f"{label}: {e}"))
            continue
        mine_own = label == own
        view.columns.append(
            TileColumn(
                [
                    thumbnail(result, f"{label}: keep PSNR {psnr_caption(row)}", scale=scale, own=mine_own),
                    thumbnail(
                        _error_tile(source, result, edit_mask),
                        f"{label}: keep-region error",
                        scale=scale,
                        own=mine_own,
                        shown_size=source.size,
                    ),
                ]
            )
        )
    return view


def _worst_samples(rows: list[dict[str, str]], label: str, labels: Sequence[str]) -> list[SampleComparison]:
    scored = [r for r in rows if r["results"] == label and r["status"] == "ok" and not _is_exact(r)]
    scored.sort(key=lambda r: _value(r, "keep_psnr"))
    return [sample_comparison(r["key"], rows, labels, own=label) for r in scored[:WORST_SAMPLES_SHOWN]]


def _perceptual_label(summary: dict[str, Any], metric: str) -> str:
    info = (summary.get("perceptual") or {}).get(metric, {})
    names = {"keep_lpips": "keep LPIPS", "keep_dino": "keep DINO similarity", "keep_clip": "keep CLIP similarity"}
    uncalibrated = metric == "keep_lpips" and not info.get("calibrated", True)
    return names[metric] + (" (uncalibrated)" if uncalibrated else "") + " macro"


def consistency_context(out_dir: str | Path) -> dict[str, Any]:
    """What ``consistency_sections.html`` shows of the ``cocoedit eval consistency`` output in ``out_dir``."""
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
                Cell(str(failed), "bad" if failed else ""),
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
    summary_table = table(
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

    failures = [[r["results"], r["key"], r["category"], r["status"], r["error"]] for r in rows if r["status"] != "ok"]
    return {
        "summary": summary,
        "perceptual_notes": [
            f"{_perceptual_label(summary, m)}: {json.dumps(summary['perceptual'][m])}" for m in perceptual
        ],
        "summary_table": summary_table,
        "category_table": table(cat_columns, cat_rows),
        "category_plot": _category_bars(rows, labels),
        "histogram": _psnr_histogram(rows, labels),
        "error_map_max": ERROR_MAP_MAX,
        "error_map_levels": f"{ERROR_MAP_MAX * 255:.0f}",
        "colour_bar": thumbnail(colour_scale_image(), alt="error colour bar", max_side=220),
        "worst": [(label, _worst_samples(rows, label, labels)) for label in labels],
        "failures": table(["results", "key", "category", "status", "reason"], failures) if failures else None,
        "failure_count": len(failures),
    }


def write_consistency_report(out_dir: str | Path) -> Path:
    """Write ``out_dir/report.html`` from the consistency outputs in ``out_dir``."""
    out_dir = Path(out_dir)
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    page = render(
        "consistency_report.html",
        title=f"Consistency report: {summary['bench']}",
        subtitle="Results compared: " + ", ".join(summary["results"]),
        consistency=consistency_context(out_dir),
    )
    path = out_dir / "report.html"
    write_text_atomic(path, page)
    return path
