"""The demo's ``summary.json`` (the results table and what it says) and ``report.html``.

Spread is over the RL seeds: seed k's arm runs are compared with the base editor evaluated from
seed k's test noise, and the table shows mean +- standard deviation of those per-seed means (the
sample standard deviation; a single seed shows no spread). Differences to the base are paired
per seed, with their 95 % paired t interval, and the statement follows
:mod:`cocoedit.demo.statement` (a change counts when its interval excludes 0). The summary also
records where and with what the numbers were made (commit, date, host, torch, threads), how much
the base editor's output depends on its initial noise, and how many groups carried a signal at the
first RL step.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import statistics
import textwrap
from pathlib import Path
from typing import Any

import torch

from cocoedit.core.reporting import figure_img, html_page, html_table, pyplot, section
from cocoedit.data.manifest import read_manifest
from cocoedit.demo.evaluation import held_out_rows, load_scores
from cocoedit.demo.settings import DemoSettings, arms
from cocoedit.demo.statement import claims_and_sentences, interval_words, paired_change
from cocoedit.rl.logging import read_metrics

PLUMBING_NOTE = (
    "PLUMBING CHECK: every stage ran, at a size (seconds of SFT, a few RL steps) whose numbers mean "
    "nothing about the method; run the full demo for results."
)
METRICS = (("edit_success", "edit success"), ("keep_psnr", "keep PSNR (dB)"), ("keep_ssim", "keep SSIM"))
#: The trainer's default advantage.std_threshold (every arm uses it).
STD_THRESHOLD = 0.02
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


def base_spread(by_seed: dict[int, Any], masks: torch.Tensor, threshold: float) -> dict[str, Any]:
    """How much the base editor's output depends on its initial noise, from its evaluations with
    each seed's noise (one group of ``len(seeds)`` samples per test pair): the mean pairwise RMS
    difference between seeds on the edit and the keep region, the mean within-pair std of edit
    success, and the share of test pairs whose edit-success std exceeds ``threshold`` (groups the
    judge-only arm could learn from)."""
    seeds = sorted(by_seed)
    if len(seeds) < 2:
        return {"seeds": len(seeds)}
    images = torch.stack([by_seed[k].images for k in seeds])  # [S, N, 3, H, W]
    judged = torch.stack([by_seed[k].edit_success for k in seeds])  # [S, N]
    edit, keep = [], []
    for a, b in itertools.combinations(range(len(seeds)), 2):
        sq = (images[a] - images[b]).square()
        for values, m in ((edit, masks), (keep, 1 - masks)):
            values.append(((sq * m).sum(dim=(1, 2, 3)) / (3 * m.sum(dim=(1, 2, 3))).clamp_min(1)).sqrt())
    std = judged.std(dim=0, unbiased=False)
    return {
        "seeds": len(seeds),
        "spread_edit": float(torch.stack(edit).mean()),
        "spread_keep": float(torch.stack(keep).mean()),
        "edit_success_std": float(std.nanmean()),
        "informative_share": float((std > threshold).float().mean()),
        "threshold": threshold,
    }


def first_step_signal(out: Path, settings: DemoSettings) -> dict[str, Any]:
    """Share of groups above the std threshold at the first RL step, over every arm and seed."""
    shares, groups = [], 0
    for arm in arms(settings):
        for seed in settings.seeds:
            rows = read_metrics(out / "runs" / f"{arm.name}-seed{seed}")
            value = rows[0].get("signal/uninformative_groups") if rows else None
            if isinstance(value, (int, float)) and math.isfinite(value):
                shares.append(1.0 - value)
                groups += settings.rl.prompts_per_epoch
    return {"informative_share": statistics.fmean(shares) if shares else math.nan, "groups": groups}


def run_environment() -> dict[str, Any]:
    """Where and with what the numbers were made."""
    import datetime
    import os
    import platform
    import subprocess

    import cocoedit

    where = Path(cocoedit.__file__).parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, cwd=where)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short=12", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None
    return {
        "commit": commit,
        "uncommitted_changes": dirty,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads_per_run": 1,
    }


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
    masks = torch.stack([r.edit_mask for r in held_out_rows(out / "data", settings.task.size)])
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
        "base_spread": base_spread(base, masks, STD_THRESHOLD),
        "first_step_signal": first_step_signal(out, settings),
        "environment": {**run_environment(), "workers": settings.workers},
        "settings": settings.model_dump(mode="json"),
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def environment_line(summary: dict[str, Any]) -> str:
    env = summary.get("environment") or {}
    if not env:
        return ""
    commit = env.get("commit") or "unknown commit"
    if env.get("uncommitted_changes"):
        commit += " (with uncommitted changes)"
    return (
        f"Run: commit {commit}, {env.get('date')}, host {env.get('host')} ({env.get('cpus')} CPUs), "
        f"Python {env.get('python')}, torch {env.get('torch')}, {env.get('torch_threads_per_run')} torch thread per "
        f"run, {env.get('workers')} runs at a time."
    )


def signal_line(summary: dict[str, Any]) -> str:
    spread, first = summary.get("base_spread") or {}, summary.get("first_step_signal") or {}
    if "spread_edit" not in spread:
        return ""
    return (
        f"Base editor across the {spread['seeds']} seeds' noise: RMS difference {spread['spread_edit']:.3f} on the "
        f"edit region and {spread['spread_keep']:.3f} on the keep region; edit-success std per test pair "
        f"{spread['edit_success_std']:.3f}, above {spread['threshold']:g} for {spread['informative_share']:.0%} of "
        f"the pairs. Groups above the std threshold at the first RL step: {first.get('informative_share', 0):.0%} of "
        f"{first.get('groups', 0)}."
    )


def markdown_summary(summary: dict[str, Any]) -> str:
    """The results table, one headline per arm, the statement, the run's environment and the
    seconds per stage as Markdown (``results.md``), to paste into docs/demo.md."""
    seeds = summary["seeds"]
    lines = []
    if summary["plumbing_check"]:
        lines += [f"**{PLUMBING_NOTE}**", ""]
    lines += [
        f"{summary['test_samples']} held-out test pairs, seeds {seeds}: mean ± std over seeds; Δ = paired "
        "difference to the base editor, mean [95 % paired t interval, n − 1 degrees of freedom], * the interval "
        "excludes 0.",
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
    for extra in (signal_line(summary), environment_line(summary)):
        if extra:
            lines += [extra, ""]
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
    """Paired difference to the base: mean [95 % interval], starred when the interval excludes 0."""
    return interval_words(change, "", fmt) + (" *" if change["excludes_zero"] else "")


def _results_table(rows: dict[str, dict]) -> str:
    columns = ["model"] + [label for _, label in METRICS] + ["Δ edit success", "Δ keep PSNR (dB)"]
    body = []
    for name, row in rows.items():
        cells = [row["title"]] + [_cell(row[m], ".2f" if m == "keep_psnr" else ".3f") for m, _ in METRICS]
        if name == "base":
            cells += ["", ""]
        else:
            cells += [_delta(row["vs_base"]["edit_success"], ".3f"), _delta(row["vs_base"]["keep_psnr"], ".2f")]
        body.append(cells)
    return html_table(columns, body)


def _tradeoff_plot(rows: dict[str, dict]) -> str:
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
    return figure_img(fig, "edit success against keep-region PSNR")


def _curves_plot(out: Path, settings: DemoSettings) -> str:
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
    return figure_img(fig, "training curves")


def _sample_grid(out: Path, settings: DemoSettings) -> str:
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
    return figure_img(fig, "sample grid")


def _sft_plot(base_dir: Path) -> str:
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
    return figure_img(fig, "SFT loss")


def write_demo_report(out: Path, summary: dict[str, Any]) -> Path:
    settings = DemoSettings.model_validate(summary["settings"])
    rows = summary["table"]
    verdict = "".join(f"<p>{html.escape(s)}</p>" for s in summary["statement"] if s != PLUMBING_NOTE)
    if summary["plumbing_check"]:
        verdict = f"<p class='bad'><b>{html.escape(PLUMBING_NOTE)}</b></p>" + verdict
    types = sorted(rows["base"]["edit_success_by_type"])
    per_type = html_table(
        ["model"] + types, [[r["title"]] + [r["edit_success_by_type"][t] for t in types] for r in rows.values()]
    )
    base = summary["base_editor"]
    sections = [
        section(
            "What happened",
            verdict
            + _results_table(rows)
            + (
                f"<p class='muted'>{summary['test_samples']} held-out test pairs; mean ± standard deviation over "
                f"seeds {summary['seeds']}; Δ columns: per-seed paired difference to the base editor, mean and its "
                "95 % paired t interval (n − 1 degrees of freedom), * = the interval excludes 0. Edit success is the "
                "programmatic judge (1 = the edit region matches the "
                f"target, 0 = no closer than the source); keep-region metrics compare the output with the source "
                f"outside the edit mask.</p>"
                + "".join(
                    f"<p class='muted'>{html.escape(line)}</p>"
                    for line in (signal_line(summary), environment_line(summary))
                    if line
                )
            ),
        ),
        section("Edit success against keep-region PSNR", _tradeoff_plot(rows)),
        section("Training curves (mean over seeds, band = min to max)", _curves_plot(out, settings)),
        section(f"Sample grid (test pairs, seed {settings.seeds[0]})", _sample_grid(out, settings)),
        section("Edit success by edit type", per_type),
        section(
            "Base editor",
            "<p class='muted'>A pixel-space editor (0.47 M-parameter transformer) trained for minutes on a "
            "CPU: it copies the keep region (drifting in colour on some samples) and its edits are rough; the "
            "comparison is between arms that start from it with the same noise, data and budget "
            "(docs/demo.md).</p>"
            + _sft_plot(Path(base["path"]))
            + html_table(
                ["folder", "reused from cache", "SFT steps", "final loss (mean of last 20)"],
                [
                    [
                        base["path"],
                        "yes" if base["reused_from_cache"] else "no",
                        base["sft_steps"],
                        base["final_sft_loss"],
                    ]
                ],
            ),
        ),
        section(
            "Settings and time",
            html_table(["stage", "seconds"], list(summary["seconds"].items()))
            + f"<pre>{html.escape(json.dumps(summary['settings'], indent=1))}</pre>",
        ),
    ]
    path = out / "report.html"
    path.write_text(
        html_page(
            "cocoedit demo: RL for consistent editing on a synthetic task",
            sections,
            "judge-only RL, judge + pixel reward, CoCoEdit and region-aware credit, from one tiny pixel-space editor",
        ),
        encoding="utf-8",
    )
    return path
