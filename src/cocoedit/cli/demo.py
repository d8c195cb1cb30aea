"""``cocoedit demo`` (the built-in default job) and ``cocoedit sft`` (its tiny base editor)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cocoedit.cli.common import console
from cocoedit.cli.progress import progress, progress_display


def demo(
    out: Annotated[Path, typer.Option(help="Output folder (report.html, summary.json, runs/, data/).")] = Path(
        "runs/demo"
    ),
    quick: Annotated[
        bool, typer.Option("--quick", help="A small version of every stage (under 2 minutes; CI).")
    ] = False,
    config: Annotated[Optional[Path], typer.Option(help="YAML overriding demo settings (docs/demo.md).")] = None,
    cache_dir: Annotated[
        Optional[Path], typer.Option(help="Where trained base editors are kept (default ~/.cache/cocoedit/demo).")
    ] = None,
) -> None:
    """The built-in default job: RL arms compared on a tiny synthetic editing task (CPU, no download).

    Trains a tiny base editor, then runs the default arms judge (judge-only RL), cocoedit (CoCoEdit),
    region (CoCoEdit with region-aware credit) and region_explore (region credit with localized
    initial noise) over several seeds, with paired t intervals; judge_pixel and cocoedit_corrected
    run when the settings' arms name them (docs/demo.md). Writes an HTML report."""
    from cocoedit.demo.runner import run_demo
    from cocoedit.demo.settings import load_demo_settings

    settings = load_demo_settings(config, quick=quick)
    with progress_display() as display:
        tasks = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = display.task(stage, total)
            tasks[stage].update(completed=done)

        def stage_done(stage: str, seconds: float) -> None:
            console.print(f"{stage}: {seconds:.0f} s")

        summary = run_demo(out, settings, cache_dir, progress=advance, stage_done=stage_done)
    _print_demo_summary(summary)
    typer.echo(f"report: {out / 'report.html'}")


def _print_demo_summary(summary: dict) -> None:
    from rich.table import Table

    from cocoedit.demo.statement import interval_words
    from cocoedit.demo.summary import environment_line, signal_line

    title = f"held-out test pairs (mean ± std over seeds {summary['seeds']})"
    if summary["plumbing_check"]:  # short enough not to wrap in an 80-column terminal
        title = f"PLUMBING CHECK, numbers mean nothing (seeds {summary['seeds']})"
    table = Table(title=title)
    for column in ("model", "edit success", "keep PSNR (dB)", "keep SSIM", "Δ edit success", "Δ keep PSNR"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in summary["table"].values():
        deltas = ["", ""]
        if "vs_base" in row:  # paired difference to the base: mean [95 % t interval], * excludes 0
            deltas = [
                interval_words(d, "", fmt) + (" *" if d["excludes_zero"] else "")
                for d, fmt in ((row["vs_base"]["edit_success"], ".3f"), (row["vs_base"]["keep_psnr"], ".2f"))
            ]
        table.add_row(
            row["title"],
            *(f"{row[k]['mean']:.3f} ± {row[k]['std']:.3f}" for k in ("edit_success", "keep_psnr", "keep_ssim")),
            *deltas,
        )
    console.print(table)
    for sentence in summary["statement"]:
        typer.echo(sentence)
    for line in (signal_line(summary), environment_line(summary)):
        if line:
            typer.echo(line)
    seconds = summary["seconds"]
    typer.echo(
        "time per stage: "
        + ", ".join(f"{stage} {value:.0f} s" for stage, value in seconds.items())
        + f" (total {sum(seconds.values()):.0f} s)"
    )


def sft(
    manifest: Annotated[Path, typer.Option(help="Training manifest; every row needs a target image.")],
    out: Annotated[Path, typer.Option(help="Folder for the trained pipeline (loads with `cocoedit edit --model`).")],
    size: Annotated[int, typer.Option(min=8, max=512, help="Square working size (pixels).")] = 32,
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps.")] = 2000,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per step.")] = 16,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 3e-4,
    drift_probability: Annotated[
        float, typer.Option(min=0, max=1, help="Share of targets whose keep region is colour-shifted.")
    ] = 0.3,
    drift_strength: Annotated[float, typer.Option(min=0, help="Largest colour shift per channel.")] = 0.15,
    partial_edit_probability: Annotated[
        float, typer.Option(min=0, max=1, help="Share of targets whose edit is done only in part (strength below).")
    ] = 0.5,
    partial_edit_min: Annotated[float, typer.Option(min=0, max=1, help="Weakest strength of a partial edit.")] = 0.4,
    edit_loss_weight: Annotated[float, typer.Option(min=1, help="Loss weight of the edit region's pixels.")] = 4.0,
    ema_decay: Annotated[
        float,
        typer.Option(min=0, max=0.9999, help="Saved weights: moving average of the trained ones (0 = last step)."),
    ] = 0.99,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train the tiny pixel-space editor from scratch by flow matching (CPU-sized)."""
    from cocoedit.demo.sft import SFTConfig, train_pixel_editor

    config = SFTConfig(
        size=size,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        drift_probability=drift_probability,
        drift_strength=drift_strength,
        partial_edit_probability=partial_edit_probability,
        partial_edit_min=partial_edit_min,
        edit_loss_weight=edit_loss_weight,
        ema_decay=ema_decay,
        seed=seed,
    )
    with progress("sft", steps, "steps") as task:
        losses = train_pixel_editor(
            manifest, out, config, progress=lambda step, loss: task.update(completed=step, status=f"loss {loss:.4f}")
        )
    typer.echo(f"editor: {out} (final loss {losses[-1]:.4f})")
