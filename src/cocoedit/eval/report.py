"""Self-contained HTML reports: one file, plots and thumbnails inlined as base64 PNG.

The small helpers (:func:`html_page`, :func:`section`, :func:`html_table`, :func:`figure_img`,
:func:`image_img`) are shared by every report; :func:`consistency_sections` renders the output of
``cocoedit eval consistency`` (``summary.json`` + ``per_sample.csv``) from a folder.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cocoedit.data.io import ImageFileError, open_image
from cocoedit.data.masks import MaskPolarity

WORST_SAMPLES_SHOWN = 6
THUMBNAIL_SIDE = 220

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;
color:#1d2330;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2.2rem;
border-bottom:1px solid #dde;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #d8dbe4;padding:.3rem .55rem;text-align:right}
th{background:#f1f3f8} td:first-child,th:first-child{text-align:left}
.muted{color:#667;font-size:.88rem} .bad{color:#b3261e}
figure{display:inline-block;margin:.3rem .6rem .3rem 0;text-align:center;font-size:.8rem}
img{max-width:100%} .thumbs img{border:1px solid #ccd}
"""


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) >= 10 else f"{value:.4f}"
    return html.escape(str(value))


def html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; floats are rounded, None/NaN shown as a dash, text escaped.

    A cell given as ``("raw", html_string)`` is inserted without escaping.
    """
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for v in row:
            if isinstance(v, tuple) and len(v) == 2 and v[0] == "raw":
                cells.append(f"<td>{v[1]}</td>")
            else:
                cells.append(f"<td>{_fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def section(title: str, body_html: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body_html}</section>"


def html_page(title: str, sections: Sequence[str], subtitle: str = "") -> str:
    """A complete HTML document with the shared style."""
    sub = f'<p class="muted">{html.escape(subtitle)}</p>' if subtitle else ""
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{sub}{''.join(sections)}</body></html>"
    )


def _png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_img(fig: Any, alt: str = "") -> str:
    """A matplotlib figure as an inline ``<img>``; the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="{html.escape(alt)}" src="{_png_data_url(buf.getvalue())}">'


def image_img(image: Image.Image, caption: str = "", max_side: int = THUMBNAIL_SIDE) -> str:
    """A PIL image as an inline thumbnail ``<figure>``."""
    thumb = image.convert("RGB")
    thumb.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    thumb.save(buf, format="PNG")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{_png_data_url(buf.getvalue())}">{cap}</figure>'


def mask_overlay(source: Image.Image, mask_file: Image.Image, polarity: MaskPolarity) -> Image.Image:
    """The source with its edit region tinted red and the keep region left as is."""
    src = np.asarray(source.convert("RGB"), dtype=np.float32)
    values = np.asarray(mask_file.convert("L").resize(source.size, Image.NEAREST), dtype=np.float32) / 255
    edit = values >= 0.5 if polarity == "white_is_edit" else values < 0.5
    tint = src * 0.45 + np.array([255.0, 40.0, 40.0]) * 0.55
    return Image.fromarray(np.where(edit[..., None], tint, src).astype(np.uint8))


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


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
