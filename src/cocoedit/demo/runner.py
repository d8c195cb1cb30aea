"""``cocoedit demo``: synthetic task -> base editor (SFT, cached) -> four RL arms x seeds -> report.

Every stage is the real one: the task is written as manifests, the base editor is trained by
``cocoedit sft``'s function, and each arm is a :class:`~cocoedit.rl.trainer.CocoEditTrainer` run
with the programmatic edit judge as its "judge". Runs go to a pool of processes with one thread
each (small models on a CPU use one core better than two). All arms and the base are evaluated on
the same held-out test pairs from the same initial noise, so differences come from the weights.

Layout of ``out``: ``data/`` (the task), ``runs/<arm>-seed<k>/`` (trainer run folders),
``evaluations/`` (test scores and outputs), ``summary.json``, ``results.md`` (the table as
Markdown) and ``report.html``.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import queue
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cocoedit.core.paths import write_text_atomic
from cocoedit.demo.evaluation import evaluate_editor, held_out_rows, save_scores
from cocoedit.demo.settings import Arm, DemoSettings, arms

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cocoedit/demo`` (``~/.cache/cocoedit/demo``)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "cocoedit" / "demo"


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one intra-op thread, then the previous setting again. The demo's models are tiny:
    a second thread gained about 15% per SFT step on an idle 2-core box, and made the base
    editor's training two to three times slower whenever anything else ran (the two threads
    wait on each other). The RL workers run one thread each for the same reason."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# -- the base editor ----------------------------------------------------------------------------
def ensure_base_editor(
    settings: DemoSettings, train_manifest: Path, cache_dir: Path, progress: ProgressFn | None = None
) -> tuple[Path, bool]:
    """The base editor's folder in ``cache_dir`` (keyed by :meth:`DemoSettings.base_key`), trained
    first if absent. Returns ``(folder, reused)``. Training writes to a temporary folder that is
    renamed when complete, so an interrupted run never leaves a half-written base behind."""
    from cocoedit.demo.sft import train_pixel_editor

    folder = cache_dir / f"base-{settings.base_key()}"
    if (folder / "model_index.json").is_file() and (folder / "sft_losses.json").is_file():
        return folder, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache_dir / f".{folder.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    config = settings.sft_config()
    try:
        losses = train_pixel_editor(
            train_manifest,
            partial,
            config,
            progress=(lambda step, loss: progress("base editor (sft)", step, config.steps)) if progress else None,
        )
        (partial / "sft_losses.json").write_text(json.dumps(losses), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # only left over when training failed
    return folder, False


# -- one RL run (in a worker process) -----------------------------------------------------------
@dataclass(frozen=True)
class ArmJob:
    """One (arm, seed) run. ``inputs``: the model and manifests as checked once for every run
    (:func:`~cocoedit.rl.preflight.check_training_inputs`); None checks them in the run."""

    arm: Arm
    seed: int
    settings: DemoSettings
    base_dir: Path
    data_dir: Path
    run_dir: Path
    scores_path: Path
    inputs: Any = None


def arm_training_config(job: ArmJob) -> dict[str, Any]:
    """The trainer configuration of one (arm, seed) run, as a ``cocoedit train`` config dict."""
    s, rl = job.settings, job.settings.rl
    size = s.task.size
    rollouts = rl.prompts_per_epoch * rl.group_size
    return {
        "model": {
            "path": str(job.base_dir),
            "backbone": "pixel-kontext",
            "height": size,
            "width": size,
            "lora_rank": rl.lora_rank,
            "lora_alpha": float(rl.lora_rank),
            "gradient_checkpointing": False,
        },
        "data": {
            "manifest": str(job.data_dir / "train" / "manifest.jsonl"),
            "validation_manifest": str(job.data_dir / "validation" / "manifest.jsonl"),
            "validation_samples": s.task.validation,
        },
        "sampling": {
            "prompts_per_epoch": rl.prompts_per_epoch,
            "group_size": rl.group_size,
            "batch_size": rollouts,
            "steps": rl.sampling_steps,
            "sampler": rl.sampler,
            "sde_noise_level": rl.sde_noise_level,
            **(job.arm.sampling or {}),
        },
        "reward": {"components": [{"name": n, "weight": w} for n, w in job.arm.weights.items()], "workers": 1},
        "nft": {"kl_weight": rl.kl_weight, "timestep_fraction": rl.timestep_fraction},
        "regularizer": job.arm.regularizer or {"enabled": False},
        "credit": job.arm.credit or {},
        "optim": {"lr": rl.lr, "train_batch_size": rollouts},
        "train": {
            "epochs": rl.epochs,
            "seed": job.seed,
            "checkpoint_every": rl.epochs,
            "validate_every": rl.validate_every,
            "sample_grid_every": rl.epochs,
            "report_to": [],
            "device": "cpu",
        },
    }


def evaluation_sampler(settings: DemoSettings) -> str:
    """The test pairs are edited deterministically: with SDE rollouts, by ``dpm2``."""
    return "dpm2" if settings.rl.sampler == "sde" else settings.rl.sampler


def quiet_libraries() -> None:
    """No per-load progress bars or import-time notices from diffusers / transformers in the demo's
    output (its own progress bars say what is happening)."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def _worker_init() -> None:
    torch.set_num_threads(1)
    quiet_libraries()


def run_arm(job: ArmJob, updates: Any = None) -> dict[str, float]:
    """Train one arm with one seed, then score it on the test split. ``updates`` (a queue) receives
    ``(run name, step)`` after every optimizer step."""
    from cocoedit.models.lora import use_adapter
    from cocoedit.rewards.edit_judge import EditJudge
    from cocoedit.rl.config import load_config
    from cocoedit.rl.trainer import CURRENT, CocoEditTrainer

    name = job.run_dir.name
    config = load_config(base=arm_training_config(job))
    shutil.rmtree(job.run_dir, ignore_errors=True)  # a run interrupted earlier starts over
    trainer = CocoEditTrainer.from_config(
        config,
        job.run_dir,
        extra_rewards={"edit_judge": EditJudge()},
        progress=(lambda stats: updates.put((name, int(stats["step"])))) if updates is not None else None,
        inputs=job.inputs,
    )
    trainer.train()
    rows = held_out_rows(job.data_dir, job.settings.task.size)
    with use_adapter(trainer.backbone, CURRENT):
        scores = evaluate_editor(
            trainer.backbone,
            rows,
            job.settings.task.size,
            evaluation_sampler(job.settings),
            job.settings.rl.sampling_steps,
            job.seed,
        )
    save_scores(scores, job.scores_path)
    return scores.means()


# -- the whole demo -----------------------------------------------------------------------------
def run_demo(
    out: str | Path,
    settings: DemoSettings,
    cache_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
    stage_done: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Run every stage and write ``summary.json`` and ``report.html`` in ``out``; return the summary.
    ``stage_done(stage, seconds)`` is called as each stage ends."""
    from cocoedit.data.synthetic import write_synthetic_task
    from cocoedit.demo.report import write_demo_report
    from cocoedit.demo.summary import build_summary, markdown_summary, run_environment
    from cocoedit.models.registry import load_backbone
    from cocoedit.rl.config import load_config
    from cocoedit.rl.preflight import check_training_inputs

    quiet_libraries()
    environment = run_environment()
    out = Path(out)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    t = settings.task
    data_dir = out / "data"
    manifests = write_synthetic_task(
        data_dir, {"train": t.train, "validation": t.validation, "test": t.test}, t.size, t.seed
    )
    timings["task"] = time.perf_counter() - t0
    if stage_done:
        stage_done("task", timings["task"])

    t0 = time.perf_counter()
    with one_thread():
        base_dir, reused = ensure_base_editor(settings, manifests["train"], cache_dir, progress)
    timings["base_editor"] = time.perf_counter() - t0
    if stage_done:
        stage_done("base editor" + (" (from the cache)" if reused else " (SFT)"), timings["base_editor"])

    t0 = time.perf_counter()
    backbone = load_backbone(base_dir, "pixel-kontext", dtype=torch.float32, device="cpu")
    backbone.pipeline.set_progress_bar_config(disable=True)
    rows = held_out_rows(data_dir, t.size)
    evaluations = out / "evaluations"
    with one_thread():
        for seed in settings.seeds:
            save_scores(
                evaluate_editor(backbone, rows, t.size, evaluation_sampler(settings), settings.rl.sampling_steps, seed),
                evaluations / f"base-seed{seed}.pt",
            )
    timings["base_evaluation"] = time.perf_counter() - t0
    if stage_done:
        stage_done("base evaluation", timings["base_evaluation"])

    t0 = time.perf_counter()
    jobs = [
        ArmJob(
            arm,
            seed,
            settings,
            base_dir,
            data_dir,
            out / "runs" / f"{arm.name}-seed{seed}",
            evaluations / f"{arm.name}-seed{seed}.pt",
        )
        for arm in arms(settings)
        for seed in settings.seeds
    ]
    # Every run trains on the same model and manifests: check them once, not in every run.
    inputs = check_training_inputs(load_config(base=arm_training_config(jobs[0])), jobs[0].run_dir, None)
    jobs = [dataclasses.replace(job, inputs=inputs) for job in jobs]
    _run_jobs(jobs, settings, progress)
    timings["rl_arms"] = time.perf_counter() - t0
    if stage_done:
        stage_done("RL arms", timings["rl_arms"])

    t0 = time.perf_counter()
    summary = build_summary(out, settings, base_dir, reused, timings, environment)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    write_text_atomic(out / "results.md", markdown_summary(summary))
    write_demo_report(out, summary)
    if stage_done:  # the report's own seconds are printed, not in the report
        stage_done("report", time.perf_counter() - t0)
    return summary


def _run_jobs(jobs: Sequence[ArmJob], settings: DemoSettings, progress: ProgressFn | None) -> None:
    total = len(jobs) * settings.rl.epochs
    if settings.workers == 1:
        done = 0

        class _Counter:
            def put(self, item: tuple[str, int]) -> None:
                nonlocal done
                done += 1
                if progress:
                    progress("RL arms", done, total)

        for job in jobs:
            run_arm(job, _Counter())
        return
    context = multiprocessing.get_context("spawn")
    with (
        context.Manager() as manager,
        ProcessPoolExecutor(settings.workers, mp_context=context, initializer=_worker_init) as pool,
    ):
        updates = manager.Queue()
        futures = [pool.submit(run_arm, job, updates) for job in jobs]
        done = 0
        while not all(f.done() for f in futures) or not updates.empty():
            try:
                updates.get(timeout=0.5)
            except queue.Empty:
                continue
            done += 1
            if progress:
                progress("RL arms", done, total)
        for future in futures:
            future.result()  # re-raises a worker's error with its traceback
