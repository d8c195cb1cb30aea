"""The demo's ``summary.json`` (the results table and what it says) and ``report.html``.

Spread is over the RL seeds: seed k's arm runs are compared with the base editor evaluated from
seed k's test noise, and the table shows mean +- standard deviation of those per-seed means (the
sample standard deviation; a single seed shows no spread). Differences to the base are paired
per seed, and the statement follows :mod:`cocoedit.demo.statement` (a change counts beyond two
standard errors of the paired differences).
"""

from __future__ import annotations

import json
import math
import statistics
import textwrap
from pathlib import Path
from typing import Any

from cocoedit.core.pages import render
from cocoedit.core.reporting import Picture, Table, plot, pyplot, table
from cocoedit.data.manifest import read_manifest
from cocoedit.demo.evaluation import held_out_rows, load_scores
from cocoedit.demo.settings import DemoSettings, arms
from cocoedit.demo.statement import claims_and_sentences, paired_change
from cocoedit.rl.logging import read_metrics

PLUMBING_NOTE = (
    "PLUMBING CHECK: every stage ran, at a size (seconds of SFT, a few RL steps) whose numbers mean "
    "nothing about the method; run the full demo for results."
)
METRICS = (("edit_success", "edit success"), ("keep_psnr", "keep PSNR (dB)"), ("keep_ssim", "keep SSIM"))
CURVES = (
    ("reward/edit_judge", "rollout edit success (train)"),
    ("val/edit_judge", "validation edit success"),
    ("val/keep_psnr", "validation keep PSNR (dB)"),
    ("val/keep_ssim", "validation keep SSIM"),
)


def _spread(values: list[float]) -> dict[str, Any]:
    finite = [v for v in values if math.isfinite(v)]
    mean = statistics.fmean(finite) if finite else float("nan")
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return {"mean": mean, "std": std, "per_seed": values}


def _per_type(scores, types: list[str]) -> dict[str, float]:
    out = {}
    for kind in sorted(set(types)):
        idx = [i for i, t in enumerate(types) if t == kind]
        out[kind] = float(scores.edit_success[idx].nanmean())
    return out


def build_summary(
    out: Path, settings: DemoSettings, base_dir: Path, reused: bool, timings: dict[str, float]
) -> dict[str, Any]:
    """The results table, per-type edit success, the verdict, settings and timings."""
    evaluations = out / "evaluations"
    types = [s.edit_type or "?" for s in read_manifest(out / "data" / "test" / "manifest.jsonl")]
    base = {seed: load_scores(evaluations / f"base-seed{seed}.pt") for seed in settings.seeds}
    models = {"base": ("base editor (SFT)", base)}
    for arm in arms(settings):
        models[arm.name] = (arm.title, {s: load_scores(evaluations / f"{arm.name}-seed{s}.pt") for s in settings.seeds})
    rows: dict[str, dict] = {}
    for name, (title, by_seed) in models.items():
        means = {s: scores.means() for s, scores in by_seed.items()}
        row: dict[str, Any] = {"title": title}
        for metric, _ in METRICS:
            row[metric] = _spread([means[s][metric] for s in settings.seeds])
        if name != "base":
            row["vs_base"] = {
                metric: paired_change([means[s][metric] - base[s].means()[metric] for s in settings.seeds])
                for metric, _ in METRICS
            }
        per_type = [_per_type(by_seed[s], types) for s in settings.seeds]
        row["edit_success_by_type"] = {k: statistics.fmean(p[k] for p in per_type) for k in per_type[0]}
        rows[name] = row
    claims, sentences = claims_and_sentences(rows)
    if settings.plumbing_check:
        sentences.insert(0, PLUMBING_NOTE)
    sft = json.loads((base_dir / "sft_losses.json").read_text(encoding="utf-8"))
    return {
        "plumbing_check": settings.plumbing_check,
        "table": rows,
        "claims": claims,
        "tradeoff_appears": claims["paper_pattern"],
        "statement": sentences,
        "seeds": settings.seeds,
        "test_samples": len(types),
        "base_editor": {
            "path": str(base_dir),
            "reused_from_cache": reused,
            "sft_steps": len(sft),
            "final_sft_loss": statistics.fmean(sft[-20:]),
        },
        "settings": settings.model_dump(mode="json"),
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def markdown_summary(summary: dict[str, Any]) -> str:
    """The results table, the statement and the seconds per stage as Markdown (``results.md``), to
    paste into docs/demo.md."""
    seeds = summary["seeds"]
    lines = []
    if summary["plumbing_check"]:
        lines += [f"**{PLUMBING_NOTE}**", ""]
    lines += [
        f"{summary['test_samples']} held-out test pairs, seeds {seeds}: mean ± std over seeds; Δ = paired "
        "difference to the base editor, mean ± standard error, * beyond the seed spread (> 2 s.e.).",
        "",
        "| model | edit success | keep PSNR (dB) | keep SSIM | Δ edit success | Δ keep PSNR (dB) |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in summary["table"].items():
        cells = [
            row["title"],
            _cell(row["edit_success"], ".3f"),
            _cell(row["keep_psnr"], ".2f"),
            _cell(row["keep_ssim"], ".3f"),
        ]
        cells += (
            ["", ""]
            if name == "base"
            else [_delta(row["vs_base"]["edit_success"], ".3f"), _delta(row["vs_base"]["keep_psnr"], ".2f")]
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [s for s in summary["statement"] if s != PLUMBING_NOTE] + [""]
    seconds = summary["seconds"]
    lines.append(
        "Seconds per stage: "
        + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
        + f" (total {sum(seconds.values()):.0f})."
    )
    return "\n".join(lines) + "\n"


# -- HTML ---------------------------------------------------------------------------------------
def _cell(spread: dict[str, Any], fmt: str) -> str:
    return f"{spread['mean']:{fmt}} ± {spread['std']:{fmt}}"


def _delta(change: dict[str, Any], fmt: str) -> str:
    """Paired difference to the base: mean ± standard error, starred when beyond the seed spread."""
    se = "–" if change["n"] < 2 else f"{change['se']:{fmt}}"
    return f"{change['mean']:+{fmt}} ± {se}{' *' if change['clear'] else ''}"


def _results_table(rows: dict[str, dict]) -> Table:
    columns = ["model"] + [label for _, label in METRICS] + ["Δ edit success", "Δ keep PSNR (dB)"]
    body = []
    for name, row in rows.items():
        cells = [row["title"]] + [_cell(row[m], ".2f" if m == "keep_psnr" else ".3f") for m, _ in METRICS]
        if name == "base":
            cells += ["", ""]
        else:
            cells += [_delta(row["vs_base"]["edit_success"], ".3f"), _delta(row["vs_base"]["keep_psnr"], ".2f")]
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
                ax.set_title(title, fontsize=8)
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
    return plot(fig, "sample grid")


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
        subtitle="judge only vs judge + pixel reward vs CoCoEdit (as written, and with the corrected edit term), "
        "from one tiny pixel-space editor",
        plumbing_note=PLUMBING_NOTE if summary["plumbing_check"] else "",
        statement=[s for s in summary["statement"] if s != PLUMBING_NOTE],
        results_table=_results_table(rows),
        test_samples=summary["test_samples"],
        seeds=summary["seeds"],
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
    path.write_text(page, encoding="utf-8")
    return path
