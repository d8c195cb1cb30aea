"""``cocoedit report RUN_DIR``: one self-contained HTML page with training curves and sample grids."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from cocoedit.core.images import open_image
from cocoedit.core.reporting import (
    figure_img,
    html_page,
    html_table,
    image_img,
    pyplot,
    section,
)
from cocoedit.rl.logging import read_metrics

CURVE_GROUPS = (
    ("Rewards", "reward/"),
    ("Validation", "val/"),
    ("Losses", "loss/"),
    ("Optimality probability r", "r/"),
    ("Training state", "train/"),
    ("Seconds per phase", "time/"),
    ("Memory", "memory/"),
)
GRIDS_SHOWN = 6


def _curves(rows: list[dict], prefix: str) -> str | None:
    """Small multiples: one panel per metric, so metrics of different scales stay readable."""
    keys = sorted({k for r in rows for k in r if k.startswith(prefix)})
    if not keys:
        return None
    plt = pyplot()
    cols = min(3, len(keys))
    nrows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.4 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        if points:
            ax.plot(*zip(*points), marker="o" if len(points) < 30 else None, markersize=3)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    return figure_img(fig, prefix)


def write_training_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` from ``metrics.jsonl``, ``samples/`` and the run's config."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    sections = []
    if rows:
        last = rows[-1]
        summary = [[k, v] for k, v in last.items() if k != "step" and isinstance(v, (int, float))]
        sections.append(section(f"Last step ({last['step']})", html_table(["metric", "value"], summary)))
    for title, prefix in CURVE_GROUPS:
        img = _curves(rows, prefix)
        if img:
            sections.append(section(title, img))
    grids = sorted((run_dir / "samples").glob("step-*.png"))[-GRIDS_SHOWN:]
    if grids:
        body = '<p class="muted">Each row: source | output of the sampling policy | edit region (red).</p>'
        body += "".join(image_img(open_image(g), g.stem, max_side=420) for g in grids)
        sections.append(section("Sample grids", body))
    config = run_dir / "config.yaml"
    info = run_dir / "run_info.json"
    meta = ""
    if info.is_file():
        meta += html_table(["key", "value"], list(json.loads(info.read_text()).items()))
    if config.is_file():
        meta += f"<pre>{html.escape(config.read_text())}</pre>"
    if meta:
        sections.append(section("Run", meta))
    page = html_page(f"Training report: {run_dir.name}", sections, subtitle=str(run_dir))
    out = run_dir / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
