"""``cocoedit report RUN [RUN ...]``: one self-contained HTML page with training curves and sample grids.

* **Chosen panels** (:data:`MAIN_PANELS`) come first, one per metric, each run a colour: the raw
  series faint, its smoothed curve (:func:`smooth`) bold. Every other metric that changes is in a
  collapsed "other metrics" block; series that never change are listed in a table, not drawn.
* **Learning signal** (:data:`SIGNAL_PANELS`, when the run logged them): the share of groups
  without signal, the within-group reward std (median and 10-90 % band) and the distance between
  a group's samples on the edit and the keep region.
* Axes read plainly: no offset notation (``1e-5 + 1.0002``), three significant digits, integer steps.
* **Sample grids** (``samples/step-NNNNNN.png``, rows of source | output | edit region) are captioned
  with their step and, when the trainer wrote the sidecar ``samples/step-NNNNNN.json``
  (``{"step": N, "rows": [{"sample_id": ..., "instruction": ...}, ...]}``, one entry per grid row,
  top to bottom), each row's instruction beside it.
* Numbers are formatted by kind (:mod:`cocoedit.core.formatting`).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cocoedit.core.formatting import format_metric
from cocoedit.core.images import ImageFileError, open_image
from cocoedit.core.reporting import figure_img, html_page, html_table, image_img, pyplot, section
from cocoedit.rl.logging import read_metrics

MAIN_PANELS = (
    ("reward/combined", "rollout reward (combined)"),
    ("val/combined", "validation reward (combined)"),
    ("val/keep_psnr", "validation keep PSNR (dB)"),
    ("val/keep_ssim", "validation keep SSIM"),
    ("loss/policy", "policy loss"),
    ("loss/keep_region", "keep-region regulariser"),
    ("loss/edit_region", "edit-region regulariser"),
    ("train/valid_fraction", "share of rollouts used"),
    ("train/grad_norm", "gradient norm"),
    ("time/epoch", "seconds per epoch"),
)
#: The learning signal's section (cocoedit.rl.diagnostics): the std distribution is drawn as its
#: median with the 10-90 % band.
SIGNAL_PANELS = (
    ("signal/uninformative_groups", "share of groups at or below the std threshold"),
    ("signal/group_std_p50", "within-group reward std: median, 10-90 % band"),
    ("signal/spread_edit", "distance between a group's samples: edit region"),
    ("signal/spread_keep", "distance between a group's samples: keep region"),
)
_STD_BAND = ("signal/group_std_p10", "signal/group_std_p90")
DEFAULT_SMOOTHING = 0.6
GRIDS_SHOWN = 6
GRID_ROW_PX = 120


def smooth(values: Sequence[float], weight: float = DEFAULT_SMOOTHING) -> list[float]:
    """Exponential moving average with bias correction (as TensorBoard's smoothing slider).

    ``s_t = w s_{t-1} + (1 - w) x_t`` from ``s_{-1} = 0``, reported as ``s_t / (1 - w^{t+1})``, so
    the first value is ``x_0`` and a constant series stays constant. ``weight`` in [0, 1); 0 = raw.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    out, state = [], 0.0
    for t, x in enumerate(values):
        state = weight * state + (1.0 - weight) * x
        out.append(state / (1.0 - weight ** (t + 1)))
    return out


def series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """The finite ``(steps, values)`` of one metric."""
    points = [
        (r["step"], float(r[key]))
        for r in rows
        if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool) and math.isfinite(r[key])
    ]
    return [p[0] for p in points], [p[1] for p in points]


def is_constant(values: Sequence[float]) -> bool:
    """Fewer than two points, or every value equal (to 1e-12 relative)."""
    return len(values) < 2 or max(values) - min(values) <= 1e-12 * max(1.0, abs(max(values)))


def tick_text(value: float, spacing: float) -> str:
    """A tick label with just enough decimals to tell ticks ``spacing`` apart; never an offset."""
    if (
        spacing <= 0
        or not math.isfinite(spacing)
        or abs(value) >= 1e5
        or (value and abs(value) < 1e-4 and spacing < 1e-4 and abs(value) / spacing < 100)
    ):
        return f"{value:.3g}"
    decimals = 0  # the fewest decimals that write the tick spacing exactly
    while decimals < 10 and abs(round(spacing, decimals) - spacing) > 1e-6 * spacing:
        decimals += 1
    return f"{value:.{decimals}f}"


def _plain_axes(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    def label(value: float, _: int) -> str:
        ticks = ax.yaxis.get_majorticklocs()
        spacing = float(min(abs(b - a) for a, b in zip(ticks, ticks[1:], strict=False))) if len(ticks) > 1 else 0.0
        return tick_text(value, spacing)

    ax.yaxis.set_major_formatter(FuncFormatter(label))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.25)


def _panels(runs: dict[str, list[dict]], keys: list[tuple[str, str]], smoothing: float, cols: int = 3) -> str:
    return figure_img(panels_figure(runs, keys, smoothing, cols), ", ".join(k for k, _ in keys))


def panels_figure(runs: dict[str, list[dict]], keys: list[tuple[str, str]], smoothing: float, cols: int = 3) -> Any:
    """One panel per ``(metric, title)``, every run a colour (raw faint, smoothed bold)."""
    plt = pyplot()
    cols = min(cols, len(keys))
    nrows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 2.9 * nrows), squeeze=False)
    for ax, (key, title) in zip(axes.flat, keys, strict=False):
        for i, (name, rows) in enumerate(runs.items()):
            steps, values = series(rows, key)
            if not steps:
                continue
            color = f"C{i}"
            if smoothing > 0 and len(values) > 2:
                ax.plot(steps, values, color=color, alpha=0.25, linewidth=1)
                ax.plot(steps, smooth(values, smoothing), color=color, linewidth=1.8, label=name)
            else:
                ax.plot(steps, values, color=color, linewidth=1.5, marker="o", markersize=3, label=name)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        _plain_axes(ax)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    if len(runs) > 1:
        axes.flat[0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def signal_figure(runs: dict[str, list[dict]], smoothing: float) -> Any:
    """:data:`SIGNAL_PANELS` in one row; the std panel shades each run's 10-90 % band."""
    fig = panels_figure(runs, list(SIGNAL_PANELS), smoothing, cols=len(SIGNAL_PANELS))
    ax = fig.axes[1]
    for i, rows in enumerate(runs.values()):
        (steps, low), (_, high) = series(rows, _STD_BAND[0]), series(rows, _STD_BAND[1])
        if steps and len(low) == len(high):
            ax.fill_between(steps, low, high, color=f"C{i}", alpha=0.15, linewidth=0)
    return fig


def _sidecar(grid: Path) -> tuple[int | None, list[str], str]:
    """(step, row instructions, problem) from ``step-NNNNNN.json`` next to a grid."""
    path = grid.with_suffix(".json")
    if not path.is_file():
        return None, [], ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = data["rows"]
        if not isinstance(rows, list):
            raise TypeError("'rows' is not a list")
        return int(data["step"]), [str(r["instruction"]) for r in rows], ""
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, [], f"{path}: not a sample-grid sidecar ({type(e).__name__}: {e})"


def grid_figure(grid: Path) -> str:
    """One captioned sample grid: the step below it, each row's instruction beside the row."""
    try:
        image = open_image(grid)
    except ImageFileError as e:
        return f'<p class="bad">{html.escape(str(e))}</p>'
    step, instructions, problem = _sidecar(grid)
    if step is None:
        step = int(grid.stem.split("-")[-1]) if grid.stem.split("-")[-1].isdigit() else None
    img = image_img(image, max_side=10_000).removeprefix("<figure>").removesuffix("</figure>")
    caption = f"step {step}" if step is not None else grid.stem
    if instructions:
        height = GRID_ROW_PX * len(instructions)
        img = img.replace("<img ", f'<img style="height:{height}px;width:auto;max-width:none" ', 1)
        items = "".join(f"<li>{html.escape(text)}</li>" for text in instructions)
        body = (
            f'<div class="gridwrap">{img}<ol class="rowcaps" style="height:{height}px;'
            f'grid-template-rows:repeat({len(instructions)},1fr)">{items}</ol></div>'
        )
    else:
        body = img.replace("<img ", '<img style="width:420px;max-width:100%;image-rendering:pixelated" ', 1)
        caption += " (no row instructions: the run wrote no sidecar JSON)"
    bad = f'<p class="bad">{html.escape(problem)}</p>' if problem else ""
    return f'<figure class="samplegrid">{body}<figcaption>{html.escape(caption)}</figcaption>{bad}</figure>'


_GRID_CSS = """<style>.samplegrid{display:block;margin:1rem 0}.gridwrap{display:flex;gap:.8rem;align-items:flex-start}
.rowcaps{display:grid;margin:0;padding-left:1.4rem;font-size:.85rem;max-width:32rem}
.rowcaps li{align-self:center}.samplegrid figcaption{text-align:left;font-weight:600}</style>"""


def _run_meta(run_dir: Path) -> str:
    meta = ""
    info = run_dir / "run_info.json"
    if info.is_file():
        meta += html_table(
            ["key", "value"], list(json.loads(info.read_text(encoding="utf-8")).items()), kinds=["auto", "auto"]
        )
    config = run_dir / "config.yaml"
    if config.is_file():
        meta += f"<details><summary>config.yaml</summary><pre>{html.escape(config.read_text())}</pre></details>"
    return meta


def run_names(run_dirs: Sequence[Path]) -> list[str]:
    names = [Path(d).name for d in run_dirs]
    return names if len(set(names)) == len(names) else [str(d) for d in run_dirs]


def write_training_report(
    run_dirs: str | Path | Sequence[str | Path], out: str | Path | None = None, smoothing: float = DEFAULT_SMOOTHING
) -> Path:
    """Write the report of one run (default ``RUN/report.html``) or several overlaid (``out`` needed)."""
    dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, Path)) else [Path(d) for d in run_dirs]
    if len(dirs) > 1 and out is None:
        raise ValueError("several runs: give the report's path (--out)")
    names = run_names(dirs)
    runs = {name: read_metrics(d) for name, d in zip(names, dirs, strict=True)}
    sections = []
    last_rows = []
    for name, rows in runs.items():
        if rows:
            last_rows += [
                [name, rows[-1]["step"], k, ("raw", html.escape(format_metric(k, v)))]
                for k, v in rows[-1].items()
                if k != "step" and isinstance(v, (int, float))
            ]
    if last_rows:
        sections.append(
            section(
                "Last logged step",
                html_table(["run", "step", "metric", "value"], last_rows, kinds=["auto", "int", "auto", "auto"]),
            )
        )
    keys = sorted({k for rows in runs.values() for r in rows for k in r if k != "step"})
    changing = {k for k in keys if any(not is_constant(series(rows, k)[1]) for rows in runs.values())}
    main = [(k, t) for k, t in MAIN_PANELS if k in changing]
    signal = any(k in keys for k, _ in SIGNAL_PANELS)
    drawn = set(dict(MAIN_PANELS)) | ({k for k, _ in SIGNAL_PANELS} | set(_STD_BAND) if signal else set())
    others = [(k, k) for k in keys if k in changing and k not in drawn]
    note = (
        f'<p class="muted">Faint: logged values; bold: smoothed (exponential moving average, weight {smoothing}, '
        "bias-corrected).</p>"
        if smoothing > 0
        else ""
    )
    if main:
        sections.append(section("Training curves", note + _panels(runs, main, smoothing)))
    if signal:
        sections.append(
            section(
                "Learning signal",
                '<p class="muted">A group teaches only through differences between its samples: the share '
                "of groups whose reward spread is at or below <code>advantage.std_threshold</code>, the spread "
                "itself, and how far apart a group's images are (RMS, pixels in [0, 1]) on the edit and the "
                "keep region (docs/training.md#the-learning-signal).</p>"
                + figure_img(signal_figure(runs, smoothing), "learning signal"),
            )
        )
    if others:
        sections.append(
            section(
                f"Other metrics ({len(others)})",
                "<details><summary>show</summary>" + _panels(runs, others, smoothing, cols=4) + "</details>",
            )
        )
    constant = [
        [name, k, ("raw", html.escape(format_metric(k, series(rows, k)[1][0])))]
        for name, rows in runs.items()
        for k in keys
        if k not in changing and series(rows, k)[1]
    ]
    if constant:
        sections.append(
            section(
                "Constant over the run (not drawn)",
                html_table(["run", "metric", "value"], constant, kinds=["auto"] * 3),
            )
        )
    for name, d in zip(names, dirs, strict=True):
        grids = sorted((d / "samples").glob("step-*.png"))[-GRIDS_SHOWN:]
        if grids:
            body = (
                '<p class="muted">Each row: source | output of the sampling policy | edit region (red), with '
                "the row's instruction beside it.</p>" + "".join(grid_figure(g) for g in grids)
            )
            sections.append(section("Sample grids" + (f": {name}" if len(dirs) > 1 else ""), _GRID_CSS + body))
        meta = _run_meta(d)
        if meta:
            sections.append(section("Run" + (f": {name}" if len(dirs) > 1 else ""), meta))
    title = f"Training report: {names[0]}" if len(dirs) == 1 else "Training runs compared: " + ", ".join(names)
    page = html_page(title, sections, subtitle=", ".join(str(d) for d in dirs))
    path = Path(out) if out is not None else dirs[0] / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
