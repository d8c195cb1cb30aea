"""The demo's ``report.html``: the results table, the statement, plots and sample grids, from the
summary of :mod:`cocoedit.demo.summary`."""

from __future__ import annotations

import json
import math
import statistics
import textwrap
from pathlib import Path
from typing import Any

from cocoedit.core.pages import render
from cocoedit.core.paths import write_text_atomic
from cocoedit.core.reporting import Picture, Table, plot, pyplot, table
from cocoedit.demo.evaluation import held_out_rows, load_scores
from cocoedit.demo.settings import DemoSettings, arms
from cocoedit.demo.summary import METRICS, PLUMBING_NOTE, delta_cell, environment_line, signal_line, spread_cell
from cocoedit.rl.logging import read_metrics

CURVES = (
    ("reward/edit_judge", "rollout edit success (train)"),
    ("val/edit_judge", "validation edit success"),
    ("val/keep_psnr", "validation keep PSNR (dB)"),
    ("val/keep_ssim", "validation keep SSIM"),
)


def _results_table(rows: dict[str, dict]) -> Table:
    columns = ["model"] + [label for _, label in METRICS] + ["Δ edit success", "Δ keep PSNR (dB)"]
    body = []
    for name, row in rows.items():
        cells = [row["title"]] + [spread_cell(row[m], ".2f" if m == "keep_psnr" else ".3f") for m, _ in METRICS]
        if name == "base":
            cells += ["", ""]
        else:
            cells += [delta_cell(row["vs_base"]["edit_success"], ".3f"), delta_cell(row["vs_base"]["keep_psnr"], ".2f")]
        body.append(cells)
    return table(columns, body)


def _tradeoff_plot(rows: dict[str, dict]) -> Picture:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    for i, row in enumerate(rows.values()):
        color = f"C{i}"
        xs, ys = row["keep_psnr"]["per_seed"], row["edit_success"]["per_seed"]
        ax.scatter(xs, ys, color=color, alpha=0.35, s=18)
        ax.errorbar(
            row["keep_psnr"]["mean"],
            row["edit_success"]["mean"],
            xerr=row["keep_psnr"]["std"],
            yerr=row["edit_success"]["std"],
            color=color,
            marker="o",
            markersize=7,
            capsize=3,
            label=row["title"],
        )
    ax.set_xlabel("keep-region PSNR (dB) →  preserved")
    ax.set_ylabel("edit success →  edited")
    ax.set_title("Held-out test pairs: one faint point per seed, mean ± std", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return plot(fig, "edit success against keep-region PSNR")


def _curves_plot(out: Path, settings: DemoSettings) -> Picture:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(CURVES), figsize=(3.6 * len(CURVES), 2.8), squeeze=False)
    for i, arm in enumerate(arms(settings)):
        runs = [read_metrics(out / "runs" / f"{arm.name}-seed{s}") for s in settings.seeds]
        for ax, (key, title) in zip(axes[0], CURVES, strict=False):
            by_step: dict[int, list[float]] = {}
            for rows in runs:
                for r in rows:
                    v = r.get(key)
                    if isinstance(v, (int, float)) and math.isfinite(v):
                        by_step.setdefault(r["step"], []).append(v)
            if not by_step:
                continue
            steps = sorted(by_step)
            ax.plot(
                steps,
                [statistics.fmean(by_step[s]) for s in steps],
                color=f"C{i + 1}",
                label=arm.title,
                marker="o" if len(steps) < 12 else None,
                markersize=3,
            )
            ax.fill_between(
                steps, [min(by_step[s]) for s in steps], [max(by_step[s]) for s in steps], color=f"C{i + 1}", alpha=0.15
            )
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("RL step", fontsize=8)
            ax.tick_params(labelsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return plot(fig, "training curves")


def _sample_grid(out: Path, settings: DemoSettings) -> Picture:
    seed = settings.seeds[0]
    rows = held_out_rows(out / "data", settings.task.size)
    count = min(settings.grid_samples, len(rows))
    # The test split cycles through the edit types, so the first rows show each of them.
    columns = (
        [("source", None), ("target", None), ("base", "base")]
        + [(a.title, a.name) for a in arms(settings)]
        + [("edit mask", None)]
    )
    images = {
        name: load_scores(out / "evaluations" / f"{name}-seed{seed}.pt").images
        for _, name in columns
        if name is not None
    }
    plt = pyplot()
    fig, axes = plt.subplots(count, len(columns), figsize=(1.35 * len(columns) + 1.6, 1.4 * count), squeeze=False)
    for i in range(count):
        row = rows[i]
        for j, (title, name) in enumerate(columns):
            if title == "source":
                tile = row.source
            elif title == "target":
                tile = row.target
            elif title == "edit mask":
                tile = row.edit_mask.expand(3, -1, -1)
            else:
                tile = images[name][i]
            ax = axes[i][j]
            ax.imshow(tile.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(textwrap.fill(title, 16), fontsize=8)  # long arm titles would overlap
            if j == 0:  # the whole instruction, wrapped and upright, left of its row
                ax.set_ylabel(
                    textwrap.fill(row.sample.instruction, 22),
                    fontsize=7.5,
                    rotation=0,
                    ha="right",
                    va="center",
                    labelpad=6,
                )
    fig.tight_layout(pad=0.3)
    return plot(fig, "sample grid", natural=True)  # pixels as they are: not shrunk to the page's width


def _sft_plot(base_dir: Path) -> Picture:
    losses = json.loads((base_dir / "sft_losses.json").read_text(encoding="utf-8"))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.plot(range(1, len(losses) + 1), losses, linewidth=0.6, alpha=0.5)
    window = max(1, len(losses) // 30)
    smooth = [statistics.fmean(losses[max(0, i - window) : i + 1]) for i in range(len(losses))]
    ax.plot(range(1, len(losses) + 1), smooth, linewidth=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("SFT step", fontsize=8)
    ax.set_ylabel("flow-matching loss", fontsize=8)
    ax.tick_params(labelsize=8)
    return plot(fig, "SFT loss")


def write_demo_report(out: Path, summary: dict[str, Any]) -> Path:
    settings = DemoSettings.model_validate(summary["settings"])
    rows = summary["table"]
    types = sorted(rows["base"]["edit_success_by_type"])
    base = summary["base_editor"]
    page = render(
        "demo_report.html",
        title="cocoedit demo: RL for consistent editing on a synthetic task",
        subtitle="; ".join(r["title"] for name, r in rows.items() if name != "base")
        + ": RL arms from one tiny pixel-space editor",
        plumbing_note=PLUMBING_NOTE if summary["plumbing_check"] else "",
        statement=[s for s in summary["statement"] if s != PLUMBING_NOTE],
        results_table=_results_table(rows),
        test_samples=summary["test_samples"],
        seeds=summary["seeds"],
        notes=[line for line in (signal_line(summary), environment_line(summary)) if line],
        tradeoff=_tradeoff_plot(rows),
        curves=_curves_plot(out, settings),
        grid_seed=settings.seeds[0],
        grid=_sample_grid(out, settings),
        per_type=table(
            ["model"] + types, [[r["title"]] + [r["edit_success_by_type"][t] for t in types] for r in rows.values()]
        ),
        sft=_sft_plot(Path(base["path"])),
        base_table=table(
            ["folder", "reused from cache", "SFT steps", "final loss (mean of last 20)"],
            [[base["path"], "yes" if base["reused_from_cache"] else "no", base["sft_steps"], base["final_sft_loss"]]],
        ),
        seconds=table(["stage", "seconds"], list(summary["seconds"].items())),
        settings_json=json.dumps(summary["settings"], indent=1),
    )
    path = out / "report.html"
    write_text_atomic(path, page)
    return path
