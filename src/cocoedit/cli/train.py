"""``cocoedit train`` and ``cocoedit report``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cocoedit.cli.common import fail, is_main_process
from cocoedit.cli.progress import progress


class ChangeKind(str, Enum):
    data = "data"
    model = "model"


FIGURES = ("reward/combined", "train/valid_fraction", "loss/policy", "loss/keep_region")


def train(
    run_dir: Annotated[Path, typer.Option(help="Run folder: config, logs, checkpoints, samples.")],
    config: Annotated[
        Optional[str],
        typer.Option(
            metavar="PRESET|FILE",
            help="A shipped preset's name (cocoedit configs list) or a YAML file; not needed with --resume.",
        ),
    ] = None,
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override, e.g. --set optim.lr=1e-4 (repeatable).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --run-dir from its last checkpoint.")
    ] = False,
    accept_changed: Annotated[
        Optional[list[ChangeKind]],
        typer.Option(
            help="With --resume: go on although the run's manifests (data) or model changed since it started "
            "(repeatable)."
        ),
    ] = None,
) -> None:
    """Train an editor with CoCoEdit RL (launch with `accelerate launch` or torchrun for several GPUs)."""
    from cocoedit.rl.config import load_config
    from cocoedit.rl.distributed import init_distributed
    from cocoedit.rl.run_folder import check_run_folder
    from cocoedit.rl.trainer import CocoEditTrainer

    init_distributed()
    if config is None and not resume:
        raise fail("give --config PRESET|FILE (or --resume to continue a run)")
    if config is None:
        check_run_folder(run_dir, resume=True)
    cfg = load_config(config if config is not None else run_dir / "config.yaml", set_ or [])
    with progress("train", cfg.train.epochs, "steps", log_interval_s=0) as task:

        def on_step(stats: dict) -> None:
            if "resumed_at" in stats:  # the steps a resumed run had done before
                task.already_done(stats["resumed_at"], "done before --resume")
                return
            figures = "  ".join(
                f"{k.split('/')[-1]} {stats[k]:.3f}" for k in FIGURES if isinstance(stats.get(k), float)
            )
            task.update(completed=stats["step"], status=figures)

        accepted = [k.value for k in accept_changed or []]
        CocoEditTrainer.from_config(cfg, run_dir, progress=on_step, accept_changed=accepted, resume=resume).train(
            resume=resume
        )
    if is_main_process():
        typer.echo(f"run: {run_dir} (report: cocoedit report {run_dir})")


def report(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="One or more `cocoedit train` run folders (several are overlaid).")
    ],
    out: Annotated[
        Optional[Path], typer.Option(help="Report path (default RUN/report.html; needed for several runs).")
    ] = None,
    smoothing: Annotated[float, typer.Option(min=0.0, max=0.99, help="Curve smoothing (EMA weight; 0 = raw).")] = 0.6,
) -> None:
    """Write a training report: chosen curves (smoothed, runs overlaid) and captioned sample grids."""
    from cocoedit.rl.report import write_training_report

    for run_dir in run_dirs:
        if not (run_dir / "metrics.jsonl").is_file():
            raise fail(f"{run_dir}: no metrics.jsonl (is this a `cocoedit train` run folder?)")
    if len(run_dirs) > 1 and out is None:
        raise fail("several runs: give the report's path with --out")
    typer.echo(f"report: {write_training_report(run_dirs, out, smoothing)}")
