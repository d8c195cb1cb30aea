"""The demo's ``summary.json`` (the results table, what it says, where it was made) and its
Markdown (``results.md``).

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

import itertools
import json
import math
import statistics
from pathlib import Path
from typing import Any

import torch

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
    """Where and with what the numbers were made (call it when the run starts: the commit and
    whether the tree had uncommitted changes are the code's, not a later checkout's)."""
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
    out: Path,
    settings: DemoSettings,
    base_dir: Path,
    reused: bool,
    timings: dict[str, float],
    environment: dict[str, Any] | None = None,
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
        "environment": {**(environment or run_environment()), "workers": settings.workers},
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
            spread_cell(row["edit_success"], ".3f"),
            spread_cell(row["keep_psnr"], ".2f"),
            spread_cell(row["keep_ssim"], ".3f"),
        ]
        cells += (
            ["", ""]
            if name == "base"
            else [delta_cell(row["vs_base"]["edit_success"], ".3f"), delta_cell(row["vs_base"]["keep_psnr"], ".2f")]
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


def spread_cell(spread: dict[str, Any], fmt: str) -> str:
    return f"{spread['mean']:{fmt}} ± {spread['std']:{fmt}}"


def delta_cell(change: dict[str, Any], fmt: str) -> str:
    """Paired difference to the base: mean [95 % interval], starred when the interval excludes 0."""
    return interval_words(change, "", fmt) + (" *" if change["excludes_zero"] else "")
