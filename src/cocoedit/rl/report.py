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

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocoedit.core.formatting import format_metric
from cocoedit.core.images import ImageFileError, open_image
from cocoedit.core.pages import render
from cocoedit.core.paths import write_text_atomic
from cocoedit.core.reporting import Cell, Picture, Table, plot, pyplot, table, thumbnail
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
GRID_WIDTH_PX = 420


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


def _panels(runs: dict[str, list[dict]], keys: list[tuple[str, str]], smoothing: float, cols: int = 3) -> Picture:
    return plot(panels_figure(runs, keys, smoothing, cols), ", ".join(k for k, _ in keys))


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


@dataclass
class SampleGrid:
    """One sample grid as the report shows it: the picture, its caption, the rows' instructions
    (drawn beside the rows, one per grid row) and what went wrong reading it."""

    picture: Picture | None
    caption: str
    instructions: list[str] = field(default_factory=list)
    problem: str = ""


def grid_figure(grid: Path) -> SampleGrid:
    """One captioned sample grid: the step below it, each row's instruction beside the row. The
    grid's pixels are shown as they are (lossless, upscaled by nearest neighbour)."""
    try:
        image = open_image(grid)
    except ImageFileError as e:
        return SampleGrid(None, grid.stem, problem=str(e))
    step, instructions, problem = _sidecar(grid)
    if step is None:
        step = int(grid.stem.split("-")[-1]) if grid.stem.split("-")[-1].isdigit() else None
    caption = f"step {step}" if step is not None else grid.stem
    if instructions:
        scale = GRID_ROW_PX * len(instructions) / image.height
    else:
        scale = GRID_WIDTH_PX / image.width
        caption += " (no row instructions: the run wrote no sidecar JSON)"
    picture = thumbnail(image, max_side=10_000, scale=scale, alt=f"sample grid, {caption}")
    return SampleGrid(picture, caption, instructions, problem)


def _run_meta(run_dir: Path) -> tuple[Table | None, str | None]:
    """The run's ``run_info.json`` as a table and its ``config.yaml`` text, when present."""
    info = run_dir / "run_info.json"
    config = run_dir / "config.yaml"
    return (
        table(["key", "value"], list(json.loads(info.read_text(encoding="utf-8")).items()), kinds=["auto", "auto"])
        if info.is_file()
        else None,
        config.read_text(encoding="utf-8") if config.is_file() else None,
    )


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
    last_rows = [
        [name, rows[-1]["step"], k, Cell(format_metric(k, v))]
        for name, rows in runs.items()
        if rows
        for k, v in rows[-1].items()
        if k != "step" and isinstance(v, (int, float))
    ]
    keys = sorted({k for rows in runs.values() for r in rows for k in r if k != "step"})
    changing = {k for k in keys if any(not is_constant(series(rows, k)[1]) for rows in runs.values())}
    main = [(k, t) for k, t in MAIN_PANELS if k in changing]
    signal = any(k in keys for k, _ in SIGNAL_PANELS)
    drawn = set(dict(MAIN_PANELS)) | ({k for k, _ in SIGNAL_PANELS} | set(_STD_BAND) if signal else set())
    others = [(k, k) for k in keys if k in changing and k not in drawn]
    constant = [
        [name, k, Cell(format_metric(k, series(rows, k)[1][0]))]
        for name, rows in runs.items()
        for k in keys
        if k not in changing and series(rows, k)[1]
    ]
    per_run = []
    for name, d in zip(names, dirs, strict=True):
        suffix = f": {name}" if len(dirs) > 1 else ""
        info, config = _run_meta(d)
        grids = [grid_figure(g) for g in sorted((d / "samples").glob("step-*.png"))[-GRIDS_SHOWN:]]
        per_run.append({"suffix": suffix, "grids": grids, "info": info, "config": config})
    page = render(
        "training_report.html",
        title=f"Training report: {names[0]}" if len(dirs) == 1 else "Training runs compared: " + ", ".join(names),
        subtitle=", ".join(str(d) for d in dirs),
        last=table(["run", "step", "metric", "value"], last_rows, kinds=["auto", "int", "auto", "auto"])
        if last_rows
        else None,
        smoothing=smoothing,
        main=_panels(runs, main, smoothing) if main else None,
        signal=plot(signal_figure(runs, smoothing), "learning signal") if signal else None,
        others=_panels(runs, others, smoothing, cols=4) if others else None,
        other_count=len(others),
        constant=table(["run", "metric", "value"], constant, kinds=["auto"] * 3) if constant else None,
        runs=per_run,
        grid_row_px=GRID_ROW_PX,
    )
    path = Path(out) if out is not None else dirs[0] / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, page)
    return path
