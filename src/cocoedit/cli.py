"""The ``cocoedit`` command line (typer).

Heavy imports (torch, matplotlib) happen inside the commands so that ``--help`` stays fast.
"""

from __future__ import annotations

from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Content-consistent RL post-training of instruction-based image editors.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets: import, curation (build), statistics, validation.")
eval_app = typer.Typer(no_args_is_help=True, help="Evaluation on GEdit-Bench and ImgEdit-Bench.")
dev_app = typer.Typer(no_args_is_help=True, help="Developer tools: generated benchmarks, tiny models.")
app.add_typer(data_app, name="data")
app.add_typer(eval_app, name="eval")
app.add_typer(dev_app, name="dev")

console = Console(stderr=True)


class Bench(str, Enum):
    gedit = "gedit"
    imgedit = "imgedit"


class SSIMModeOption(str, Enum):
    normalized = "normalized"
    full_map = "full_map"


class ManifestFormat(str, Enum):
    auto = "auto"
    manifest = "manifest"
    cocoedit40k = "cocoedit40k"


@contextmanager
def progress_bar(description: str, total: int):
    """A rich progress bar; yields a callable that advances it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def fail(message: str, code: int = 2) -> typer.Exit:
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@data_app.command("validate")
def data_validate(
    manifest: Annotated[Path, typer.Argument(help="JSONL manifest, or a CoCoEdit-40K metadata.jsonl.")],
    format: Annotated[ManifestFormat, typer.Option(help="Row format; auto looks at the first row.")] = ManifestFormat.auto,
    allow_outside_root: Annotated[bool, typer.Option(help="Accept paths outside the manifest's folder.")] = False,
    report: Annotated[bool, typer.Option("--report", help="Counts per problem and a few examples, not every row.")] = False,
    examples: Annotated[int, typer.Option(help="Examples per problem kind with --report.")] = 3,
) -> None:
    """Check every row and file of a manifest. Reads only; exits 1 if anything is wrong."""
    from cocoedit.data.manifest import ManifestError, detect_layout
    from cocoedit.data.validate import validate_manifest

    if not manifest.is_file():
        raise fail(f"{manifest}: manifest not found")
    layout = detect_layout(manifest) if format == ManifestFormat.auto else format.value
    rows = sum(1 for line in manifest.open(encoding="utf-8", errors="replace") if line.strip())
    try:
        with progress_bar(f"validating {manifest.name} ({layout})", rows) as advance:
            result = validate_manifest(manifest, allow_outside_root, layout, progress=advance)
    except ManifestError as e:
        raise fail(str(e))
    if report:
        for kind, count in sorted(result.counts().items(), key=lambda kv: -kv[1]):
            typer.echo(f"{kind}: {count}")
            for problem in result.examples(examples)[kind]:
                typer.echo(f"    {problem}")
    else:
        for problem in result.problems:
            typer.echo(str(problem))
    verdict = "ok" if result.ok else f"{result.bad_rows} bad row(s), {len(result.problems)} problem(s)"
    typer.echo(f"{manifest}: {result.rows} row(s) checked: {verdict}")
    if not result.ok:
        raise typer.Exit(1)


class SourceFormatOption(str, Enum):
    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    hf = "hf"
    cocoedit40k = "cocoedit40k"


@data_app.command("import")
def data_import(
    source: Annotated[Path, typer.Argument(help="JSONL/CSV/parquet table, a `datasets` save_to_disk folder, or a CoCoEdit-40K folder.")],
    out: Annotated[Path, typer.Option(help="Folder for manifest.jsonl, images/, targets/, masks/, import_skipped.jsonl.")],
    format: Annotated[SourceFormatOption, typer.Option(help="Source format; auto looks at the path.")] = SourceFormatOption.auto,
    source_col: Annotated[str, typer.Option(help="Column of the source image (path, bytes or {bytes, path}).")] = "source",
    target_col: Annotated[Optional[str], typer.Option(help="Column of the edited image; '' for datasets without one.")] = "target",
    instruction_col: Annotated[str, typer.Option(help="Column of the instruction.")] = "instruction",
    id_col: Annotated[Optional[str], typer.Option(help="Column of the sample id (default: 'id' if present, else the row number).")] = None,
    edit_type_col: Annotated[Optional[str], typer.Option(help="Column of the edit type (default: 'edit_type' if present).")] = None,
    mask_col: Annotated[Optional[str], typer.Option(help="Column of an existing mask (white = edit).")] = None,
    split: Annotated[Optional[str], typer.Option(help="Split of a saved DatasetDict.")] = None,
    link: Annotated[bool, typer.Option("--link", help="Symlink image files instead of copying them.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first bad row instead of skipping it.")] = False,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Import at most this many rows.")] = None,
) -> None:
    """Import an editing dataset as a manifest of candidates for `cocoedit data build`."""
    from cocoedit.data.importers import ColumnMapping, DataImportError, import_pairs

    try:
        columns = ColumnMapping(source=source_col, target=target_col or None, instruction=instruction_col,
                                id=id_col, edit_type=edit_type_col, mask=mask_col)
        fmt = None if format == SourceFormatOption.auto else format.value
        with progress_bar(f"importing {source.name}", None) as advance:
            result = import_pairs(source, out, fmt, columns, split=split, link=link, strict=strict,
                                  limit=limit, progress=advance)
    except (DataImportError, ValueError) as e:
        raise fail(str(e))
    typer.echo(f"{result.imported} imported, {sum(result.skipped.values())} skipped -> {result.manifest}")
    for reason, n in result.skipped.most_common():
        typer.echo(f"    skipped ({reason}): {n}")


def _counts_text(counts: dict, reasons: dict) -> str:
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:4])
    return f"kept {counts.get('kept', 0)} · dropped {counts.get('dropped', 0)} · failed {counts.get('failed', 0)}" + (
        f" ({dropped})" if dropped else "")


@data_app.command("build")
def data_build(
    config: Annotated[Path, typer.Option(help="Curation preset (YAML), e.g. configs/curation_local_edits.yaml.")],
    in_: Annotated[Path, typer.Option("--in", help="Candidate manifest (from `cocoedit data import`).")],
    out: Annotated[Path, typer.Option(help="Output folder; an existing one is resumed.")],
    model: Annotated[Optional[str], typer.Option(help="VLM model id as the server knows it (overrides vlm.model).")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible endpoint (overrides vlm.base_url).")] = None,
    api_key_env: Annotated[Optional[str], typer.Option(help="Environment variable holding the API key (overrides vlm.api_key_env).")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Samples in flight at once (overrides workers).")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Process samples recorded as failed again.")] = False,
) -> None:
    """Annotate masks, augment, refine and filter candidates into a training manifest (resumable)."""
    from collections import Counter

    from cocoedit.data.build import BuildError, run_build
    from cocoedit.data.curation_config import CurationConfigError, load_build_config
    from cocoedit.rewards.judge_client import JudgeUnavailableError

    try:
        cfg = load_build_config(config)
    except CurationConfigError as e:
        raise fail(str(e))
    vlm = {k: v for k, v in {"model": model, "base_url": base_url, "api_key_env": api_key_env}.items() if v}
    cfg = cfg.model_copy(update={"vlm": cfg.vlm.model_copy(update=vlm), **({"workers": workers} if workers else {})})
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    counts: Counter = Counter()
    reasons: Counter = Counter()
    with Progress(TextColumn("build"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("{task.fields[counts]}"), console=console) as bar:
        task = bar.add_task("build", total=None, counts="")

        def on_start(todo: int, done: dict) -> None:
            bar.update(task, total=todo)

        def on_record(record: dict) -> None:
            counts[record["status"]] += 1
            if record["status"] != "kept":
                reasons[record["reason"]] += 1
            bar.update(task, advance=1, counts=_counts_text(counts, reasons))

        try:
            summary = run_build(cfg, in_, out, retry_failed=retry_failed, on_start=on_start, on_record=on_record)
        except (BuildError, JudgeUnavailableError, ValueError) as e:
            raise fail(str(e))
    typer.echo(f"{summary.processed}/{summary.total} samples decided: {_counts_text(summary.counts, summary.reasons)}")
    typer.echo(f"manifest: {summary.manifest} (stats: cocoedit data stats {out})")


@data_app.command("stats")
def data_stats(
    path: Annotated[Path, typer.Argument(help="A `cocoedit data build` folder, a dataset folder or a manifest.")],
) -> None:
    """Edit types, mask areas, instruction lengths, kept/dropped by reason: stats.html with plots."""
    from cocoedit.data.stats import StatsError, write_stats

    try:
        report, stats = write_stats(path)
    except StatsError as e:
        raise fail(str(e))
    typer.echo(f"{stats['samples']} samples: " + ", ".join(f"{k} {v}" for k, v in stats["counts"].items()))
    typer.echo(f"report: {report}")


@eval_app.command("consistency")
def eval_consistency(
    bench: Annotated[Bench, typer.Option(help="Benchmark layout.")],
    bench_dir: Annotated[Path, typer.Option(help="Mask-annotated benchmark folder.")],
    results: Annotated[list[Path], typer.Option(help="Results folder; repeat to compare several.")],
    out: Annotated[Path, typer.Option(help="Folder for per_sample.csv, summary.json, report.html.")],
    ssim_mode: Annotated[SSIMModeOption, typer.Option(help="normalized: keep pixels only; full_map: whole-image SSIM map averaged on the keep region.")] = SSIMModeOption.normalized,
) -> None:
    """Keep-region PSNR/SSIM/MAE of edited results, with an HTML report."""
    from cocoedit.eval.benchmarks import BenchmarkError, load_benchmark
    from cocoedit.eval.consistency import evaluate_consistency

    try:
        total = len(load_benchmark(bench.value, bench_dir)) * len(results)
        with progress_bar("scoring", total) as advance:
            summary = evaluate_consistency(bench.value, bench_dir, results, out, ssim_mode.value, advance)
    except (BenchmarkError, ValueError) as e:
        raise fail(str(e))
    _print_consistency_summary(summary)
    typer.echo(f"report: {out / 'report.html'}")


def _print_consistency_summary(summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"keep-region consistency ({summary['bench']})")
    for col in ("results", "scored", "not scored", "PSNR macro", "SSIM macro", "edit change"):
        table.add_column(col, justify="right")
    for label, res in summary["results"].items():
        c, m = res["counts"], res["overall_macro"]
        fmt = lambda v, spec: "–" if v is None or v != v else format(v, spec)  # noqa: E731
        table.add_row(label, str(c["scored"]), str(c["samples"] - c["scored"]),
                      fmt(m["keep_psnr"], ".2f"), fmt(m["keep_ssim"], ".4f"), fmt(m["edit_change"], ".4f"))
    Console().print(table)


@dev_app.command("make-bench")
def dev_make_bench(
    bench: Annotated[Bench, typer.Option(help="Layout to write.")],
    out: Annotated[Path, typer.Option(help="Folder: bench/ plus one results folder per synthetic editor.")],
    per_category: Annotated[int, typer.Option(min=1, help="Samples per category.")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write a small mask-annotated benchmark from real photos, with synthetic editors' results."""
    from cocoedit.eval.sample_bench import make_sample_benchmark

    made = make_sample_benchmark(out, bench.value, per_category=per_category, seed=seed)
    typer.echo(f"benchmark: {made.bench_dir} ({made.samples} samples)")
    for name, path in made.results.items():
        typer.echo(f"results ({name}): {path}")


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Output folder (report.html, summary.json, runs/, data/).")] = Path("runs/demo"),
    quick: Annotated[bool, typer.Option("--quick", help="A small version of every stage (under 2 minutes; CI).")] = False,
    config: Annotated[Optional[Path], typer.Option(help="YAML overriding demo settings (docs/demo.md).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Where trained base editors are kept (default ~/.cache/cocoedit/demo).")] = None,
) -> None:
    """The built-in default job: train a tiny editor on a synthetic task, then compare judge-only
    RL, judge + pixel reward, CoCoEdit, and CoCoEdit with the corrected edit-region term. CPU only,
    no download; writes an HTML report."""
    from cocoedit.demo.runner import run_demo
    from cocoedit.demo.settings import DemoSettingsError, load_demo_settings

    try:
        settings = load_demo_settings(config, quick=quick)
    except DemoSettingsError as e:
        raise fail(str(e))
    with _stage_progress() as advance:
        summary = run_demo(out, settings, cache_dir, progress=advance)
    _print_demo_summary(summary)
    typer.echo(f"report: {out / 'report.html'}")


@contextmanager
def _stage_progress():
    """One progress bar per stage: ``advance(stage, done, total)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    tasks: dict[str, int] = {}
    with Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console) as bar:
        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        yield advance


def _print_demo_summary(summary: dict) -> None:
    from rich.table import Table

    title = f"held-out test pairs (mean ± std over seeds {summary['seeds']})"
    if summary["plumbing_check"]:  # short enough not to wrap in an 80-column terminal
        title = f"PLUMBING CHECK, numbers mean nothing (seeds {summary['seeds']})"
    table = Table(title=title)
    for column in ("model", "edit success", "keep PSNR (dB)", "keep SSIM", "Δ edit success", "Δ keep PSNR"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in summary["table"].values():
        deltas = ["", ""]
        if "vs_base" in row:  # paired difference to the base: mean ± standard error, * beyond the seed spread
            deltas = [f"{d['mean']:+.3f} ± {d['se']:.3f}{' *' if d['clear'] else ''}"
                      for d in (row["vs_base"]["edit_success"], row["vs_base"]["keep_psnr"])]
        table.add_row(row["title"], *(f"{row[k]['mean']:.3f} ± {row[k]['std']:.3f}"
                                      for k in ("edit_success", "keep_psnr", "keep_ssim")), *deltas)
    console.print(table)
    for sentence in summary["statement"]:
        typer.echo(sentence)
    seconds = summary["seconds"]
    typer.echo("time per stage: " + ", ".join(f"{stage} {value:.0f} s" for stage, value in seconds.items())
               + f" (total {sum(seconds.values()):.0f} s)")


@dev_app.command("make-dataset")
def dev_make_dataset(
    out: Annotated[Path, typer.Option(help="Folder for images/, masks/, targets/ and manifest.jsonl.")],
    samples: Annotated[int, typer.Option(min=1, help="Number of samples.")] = 16,
    size: Annotated[int, typer.Option(min=16, help="Square image side.")] = 64,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write a small training manifest from real photos (edit regions, instructions, targets)."""
    from cocoedit.eval.sample_bench import make_sample_manifest

    typer.echo(f"manifest: {make_sample_manifest(out, samples, (size, size), seed)}")


@dev_app.command("make-synthetic")
def dev_make_synthetic(
    out: Annotated[Path, typer.Option(help="Folder for train/, validation/, test/ (each a manifest with images).")],
    train: Annotated[int, typer.Option(min=0, help="Training samples.")] = 200,
    validation: Annotated[int, typer.Option(min=0, help="Validation samples.")] = 40,
    test: Annotated[int, typer.Option(min=0, help="Test samples.")] = 40,
    size: Annotated[int, typer.Option(min=16, help="Square image side.")] = 32,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write the synthetic local-editing task: shapes on textures, five edit types, exact masks and targets."""
    from cocoedit.data.synthetic import write_synthetic_task

    counts = {k: v for k, v in {"train": train, "validation": validation, "test": test}.items() if v}
    for split, path in write_synthetic_task(out, counts, size, seed).items():
        typer.echo(f"{split}: {path}")


@app.command("sft")
def sft(
    manifest: Annotated[Path, typer.Option(help="Training manifest; every row needs a target image.")],
    out: Annotated[Path, typer.Option(help="Folder for the trained pipeline (loads with `cocoedit edit --model`).")],
    size: Annotated[int, typer.Option(min=8, help="Square working size (pixels).")] = 32,
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps.")] = 2000,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per step.")] = 16,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 3e-4,
    drift_probability: Annotated[float, typer.Option(min=0, max=1, help="Share of targets whose keep region is colour-shifted.")] = 0.3,
    drift_strength: Annotated[float, typer.Option(min=0, help="Largest colour shift per channel.")] = 0.15,
    edit_loss_weight: Annotated[float, typer.Option(min=1, help="Loss weight of the edit region's pixels.")] = 4.0,
    ema_decay: Annotated[float, typer.Option(min=0, max=0.9999, help="Saved weights: moving average of the trained ones (0 = last step).")] = 0.99,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train the tiny pixel-space editor from scratch by flow matching (CPU-sized)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from cocoedit.models.sft import SFTConfig, train_pixel_editor

    config = SFTConfig(size=size, steps=steps, batch_size=batch_size, lr=lr, drift_probability=drift_probability,
                       drift_strength=drift_strength, edit_loss_weight=edit_loss_weight, ema_decay=ema_decay, seed=seed)
    with Progress(TextColumn("sft"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("loss {task.fields[loss]}"), console=console) as bar:
        task = bar.add_task("sft", total=steps, loss="–")
        try:
            losses = train_pixel_editor(manifest, out, config,
                                        progress=lambda step, loss: bar.update(task, completed=step, loss=f"{loss:.4f}"))
        except ValueError as e:
            raise fail(str(e))
    typer.echo(f"editor: {out} (final loss {losses[-1]:.4f})")


@app.command("train")
def train(
    run_dir: Annotated[Path, typer.Option(help="Run folder: config, logs, checkpoints, samples.")],
    config: Annotated[Optional[Path], typer.Option(help="YAML preset (configs/*.yaml); not needed with --resume.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override, e.g. --set optim.lr=1e-4 (repeatable).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --run-dir from its last checkpoint.")] = False,
) -> None:
    """Train an editor with CoCoEdit RL (launch with `accelerate launch` or torchrun for several GPUs)."""
    from cocoedit.rl.config import ConfigError, load_config
    from cocoedit.rl.trainer import CocoEditTrainer, init_distributed

    init_distributed()
    if config is None and not resume:
        raise fail("give --config FILE (or --resume to continue a run)")
    source = config if config is not None else run_dir / "config.yaml"
    try:
        cfg = load_config(source, set_ or [])
    except ConfigError as e:
        raise fail(str(e))
    with _train_progress(cfg.train.epochs) as on_epoch:
        try:
            trainer = CocoEditTrainer.from_config(cfg, run_dir, progress=on_epoch)
            trainer.train(resume=resume)
        except (FileExistsError, FileNotFoundError, ValueError) as e:
            raise fail(str(e))
    typer.echo(f"run: {run_dir} (report: cocoedit report {run_dir})")


@contextmanager
def _train_progress(total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("epoch"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("{task.fields[figures]}"), console=console) as bar:
        task = bar.add_task("train", total=total, figures="")

        def on_epoch(stats: dict) -> None:
            figures = "  ".join(f"{k.split('/')[-1]} {stats[k]:.3f}" for k in
                                ("reward/combined", "train/valid_fraction", "loss/policy", "loss/keep_region")
                                if isinstance(stats.get(k), float))
            bar.update(task, completed=stats["step"], figures=figures)

        yield on_epoch


@app.command("report")
def report(run_dir: Annotated[Path, typer.Argument(help="A `cocoedit train` run folder.")]) -> None:
    """Write RUN_DIR/report.html: training curves and sample grids."""
    from cocoedit.rl.report import write_training_report

    if not (run_dir / "metrics.jsonl").is_file():
        raise fail(f"{run_dir}: no metrics.jsonl (is this a `cocoedit train` run folder?)")
    typer.echo(f"report: {write_training_report(run_dir)}")


# ---- editing with a backbone: `cocoedit dev make-tiny`, `cocoedit edit` ----
@dev_app.command("make-tiny")
def dev_make_tiny(
    backbone: str = typer.Option(..., help="kontext | qwen-image-edit | qwen-image-edit-plus"),
    out: Path = typer.Option(..., help="Empty or new folder to write the pipeline to."),
    seed: int = typer.Option(0, help="Seed of the random weights."),
) -> None:
    """Write a tiny random-weight editing pipeline that the stock diffusers class loads offline."""
    from cocoedit.models.tiny import BACKBONE_KINDS, save_tiny_pipeline

    if backbone not in BACKBONE_KINDS:
        raise typer.BadParameter(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONE_KINDS)}")
    try:
        path = save_tiny_pipeline(backbone, out, seed)
    except FileExistsError as e:
        raise typer.BadParameter(str(e)) from None
    typer.echo(f"wrote tiny {backbone} pipeline to {path}")


def _parse_size(size: str | None) -> tuple[int, int] | None:
    if size is None:
        return None
    parts = size.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise typer.BadParameter(f"--size {size!r}: expected N or HxW, e.g. 512 or 512x768") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) <= 0:
        raise typer.BadParameter(f"--size {size!r}: expected N or HxW with positive numbers")
    return values[0], values[1]


@app.command("edit")
def edit(
    model: str = typer.Option(..., help="Local pipeline folder or hub id."),
    backbone: str | None = typer.Option(None, help="Backbone kind; detected from a local folder."),
    image: Path | None = typer.Option(None, help="Single mode: source image."),
    prompt: str | None = typer.Option(None, help="Single mode: the instruction."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Single mode: output image."),
    manifest: Path | None = typer.Option(None, help="Batch mode: JSONL manifest; writes OUT/<id>.png."),
    bench: str | None = typer.Option(None, help="Batch mode: gedit | imgedit (with --bench-dir)."),
    bench_dir: Path | None = typer.Option(None, help="Mask-annotated benchmark folder."),
    out: Path | None = typer.Option(None, help="Batch mode: results folder (the eval layout)."),
    lora: Path | None = typer.Option(None, help="Diffusers-format LoRA folder or .safetensors file."),
    lora_scale: float = typer.Option(1.0, help="LoRA strength."),
    steps: int = typer.Option(28, min=1, help="Sampling steps."),
    guidance: float | None = typer.Option(None, help="Guidance scale (Kontext embedding, Qwen true CFG)."),
    seed: int = typer.Option(0, help="Seed of the initial noise (the same for every sample)."),
    size: str | None = typer.Option(None, help="Working size N or HxW; default: the source's, capped by --max-area."),
    max_area: int = typer.Option(1024 * 1024, help="Pixel cap when --size is not given."),
    sampler: str = typer.Option("euler", help="euler | dpm2 | sde"),
    noise_level: float = typer.Option(0.7, help="SDE noise level (sampler sde only)."),
    device: str | None = typer.Option(None, help="Default: cuda if available, else cpu."),
    dtype: str | None = typer.Option(None, help="float32 | bfloat16 | float16; default bf16 on CUDA, float32 on CPU."),
    cpu_offload: bool = typer.Option(False, help="diffusers model CPU offload (CUDA)."),
    vae_tiling: bool = typer.Option(False, help="diffusers VAE tiling (large images)."),
) -> None:
    """Edit one image, a manifest, or a benchmark with an editor (optionally with a LoRA)."""
    import torch
    from rich.progress import Progress

    from cocoedit.models.backbone import BackboneError, load_backbone
    from cocoedit.models.batch_edit import (
        EditSettings,
        edit_one,
        jobs_from_benchmark,
        jobs_from_manifest,
        run_batch,
    )
    from cocoedit.models.lora import LoraError, load_lora
    from cocoedit.models.samplers import SAMPLER_NAMES

    single = image is not None or prompt is not None or output is not None
    modes = [single, manifest is not None, bench is not None]
    if sum(modes) != 1:
        raise typer.BadParameter("choose one mode: --image/--prompt/-o, --manifest/--out, or --bench/--bench-dir/--out")
    if single and (image is None or prompt is None or output is None):
        raise typer.BadParameter("single mode needs --image, --prompt and -o/--output")
    if not single and out is None:
        raise typer.BadParameter("batch mode needs --out")
    if bench is not None and bench_dir is None:
        raise typer.BadParameter("--bench needs --bench-dir")
    if sampler not in SAMPLER_NAMES:
        raise typer.BadParameter(f"--sampler {sampler!r}: choose one of {', '.join(SAMPLER_NAMES)}")
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype is not None and dtype not in dtypes:
        raise typer.BadParameter(f"--dtype {dtype!r}: choose one of {', '.join(dtypes)}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = dtypes[dtype] if dtype else (torch.bfloat16 if device.startswith("cuda") else torch.float32)

    try:
        bb = load_backbone(model, kind=backbone, dtype=torch_dtype, device=None if cpu_offload else device)
        if cpu_offload:
            bb.pipeline.enable_model_cpu_offload(device=device)
            bb.refresh_placement()
        if vae_tiling:
            bb.pipeline.vae.enable_tiling()
        if lora is not None:
            load_lora(bb, lora, "edit", scale=lora_scale)
    except (BackboneError, LoraError, OSError) as e:
        raise fail(str(e)) from None
    bb.pipeline.set_progress_bar_config(disable=True)
    settings = EditSettings(steps, guidance, seed, sampler, noise_level, _parse_size(size), max_area)

    if single:
        from cocoedit.data.io import save_image

        try:
            result = edit_one(bb, image, prompt, settings)
        except (BackboneError, ValueError) as e:
            raise fail(str(e), code=1) from None
        save_image(result, output)
        typer.echo(f"wrote {output}")
        return

    try:
        jobs = jobs_from_manifest(manifest, out) if manifest is not None else jobs_from_benchmark(bench, bench_dir, out)
    except ValueError as e:
        raise fail(str(e)) from None
    with Progress(transient=False) as progress:
        task = progress.add_task("editing", total=len(jobs))
        report = run_batch(bb, jobs, settings, on_progress=lambda job: progress.advance(task))
    typer.echo(f"{len(report.written)} written, {len(report.skipped)} skipped (already done), "
               f"{len(report.failed)} failed -> {out}")
    for key, why in report.failed.items():
        typer.echo(f"failed {key}: {why}", err=True)
    if report.failed:
        raise typer.Exit(1)


# ---- MLLM judge: `cocoedit eval judge` ----

class JudgeBackendOption(str, Enum):
    openai = "openai"
    transformers = "transformers"


class ImageFormatOption(str, Enum):
    png = "png"
    jpeg = "jpeg"


@eval_app.command("judge")
def eval_judge(
    bench: Annotated[Bench, typer.Option(help="Benchmark layout.")],
    bench_dir: Annotated[Path, typer.Option(help="Benchmark folder (with its metafile: instructions, types).")],
    results: Annotated[list[Path], typer.Option(help="Results folder; repeat to compare several.")],
    out: Annotated[Path, typer.Option(help="Folder for judge_summary.json, judge_per_sample.csv, judge_replies.jsonl, report.html.")],
    model: Annotated[str, typer.Option(help="Judge model id as the server knows it (or a label with --backend transformers).")],
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 for vllm serve.")] = "http://127.0.0.1:8000/v1",
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key (not needed for a local server).")] = "OPENAI_API_KEY",
    consistency: Annotated[Optional[Path], typer.Option(help="A `cocoedit eval consistency` output folder to merge into the report (default: --out, if it holds one).")] = None,
    official_prompts: Annotated[Optional[Path], typer.Option(help="The benchmark's own prompt file (GEdit viescore/vie_prompts.py, ImgEdit prompts.json) instead of ours.")] = None,
    backend: Annotated[JudgeBackendOption, typer.Option(help="openai: any chat-completions server; transformers: load --model-path in this process.")] = JudgeBackendOption.openai,
    model_path: Annotated[Optional[Path], typer.Option(help="Local Qwen2.5-VL checkpoint folder for --backend transformers.")] = None,
    cache: Annotated[Optional[Path], typer.Option(help="SQLite reply cache (default: OUT/judge_cache.sqlite).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds per request.")] = 120.0,
    max_retries: Annotated[int, typer.Option(min=0, help="Retries on timeouts, connection errors, 429 and 5xx.")] = 4,
    parse_retries: Annotated[int, typer.Option(min=0, help="Extra replies requested after an unparsable one.")] = 2,
    temperature: Annotated[float, typer.Option(min=0.0, help="Judge temperature (0 = reproducible).")] = 0.0,
    max_tokens: Annotated[int, typer.Option(min=1, help="Longest reply.")] = 512,
    seed: Annotated[int, typer.Option(help="Sampling seed sent to the judge.")] = 0,
    image_format: Annotated[ImageFormatOption, typer.Option(help="How images travel to the server.")] = ImageFormatOption.png,
    max_image_side: Annotated[int, typer.Option(min=16, help="Longest image side sent to the judge.")] = 1024,
) -> None:
    """MLLM-judge scores (GEdit VIEScore SC/PQ/O, ImgEdit rubric) of results folders, with an HTML report."""
    import asyncio

    from cocoedit.eval.benchmarks import BenchmarkError, load_benchmark
    from cocoedit.eval.judge_bench import REPLIES_FILE, judge_results, templates_for, write_judge_outputs
    from cocoedit.eval.judge_report import write_judge_report
    from cocoedit.rewards.judge import Judge
    from cocoedit.rewards.judge_cache import JudgeCache
    from cocoedit.rewards.judge_client import (
        EndpointConfig, JudgeUnavailableError, OpenAIJudgeBackend, SamplingConfig,
    )
    from cocoedit.rewards.judge_prompts import PromptFileError

    if consistency is None and (out / "summary.json").is_file():
        consistency = out
    if consistency is not None and not (consistency / "summary.json").is_file():
        raise fail(f"{consistency}: no summary.json from `cocoedit eval consistency`")
    if backend == JudgeBackendOption.transformers and model_path is None:
        raise fail("--backend transformers needs --model-path")
    for d in results:
        if not d.is_dir():
            raise fail(f"{d}: results folder not found")
    try:
        samples = load_benchmark(bench.value, bench_dir)
        templates = templates_for(bench.value, official_prompts)
    except (BenchmarkError, PromptFileError) as e:
        raise fail(str(e))
    sampling = SamplingConfig(temperature=temperature, max_tokens=max_tokens, seed=seed)
    endpoint = EndpointConfig(base_url=base_url, model=model, api_key_env=api_key_env, concurrency=concurrency,
                              timeout_s=timeout, max_retries=max_retries, image_format=image_format.value,
                              max_image_side=max_image_side)
    out.mkdir(parents=True, exist_ok=True)
    judge_cache = JudgeCache(cache or out / "judge_cache.sqlite")

    async def run(advance):
        if backend == JudgeBackendOption.openai:
            judge_backend = OpenAIJudgeBackend(endpoint)
        else:
            from cocoedit.rewards.judge_local import TransformersJudgeBackend

            judge_backend = TransformersJudgeBackend.from_pretrained(model_path, max_image_side=max_image_side)
        try:
            await judge_backend.health_check()
            judge = Judge(judge_backend, sampling, parse_retries, judge_cache)
            return await judge_results(bench.value, samples, results, judge, templates, advance)
        finally:
            await judge_backend.aclose()

    try:
        with progress_bar("judging", len(samples) * len(results)) as advance:
            rows = asyncio.run(run(advance))
    except (JudgeUnavailableError, BenchmarkError, ValueError, KeyError) as e:
        raise fail(str(e).strip("'\""))
    finally:
        judge_cache.export_jsonl(out / REPLIES_FILE)
        judge_cache.close()
    judge_info = {
        "backend": backend.value,
        "model": model,
        "base_url": base_url if backend == JudgeBackendOption.openai else None,
        "model_path": str(model_path) if model_path else None,
        "prompt_source": f"official, from {official_prompts}" if official_prompts else "cocoedit's own wording",
        "templates": sorted({t.ident for t in templates.values()}),
        "sampling": sampling.model_dump(),
        "image_encoding": f"{image_format.value}, longest side <= {max_image_side}",
    }
    summary = write_judge_outputs(out, bench.value, bench_dir, results, rows, judge_info)
    report = write_judge_report(out, summary, consistency)
    for label, res in summary["results"].items():
        c, head = res["counts"], res["headline"]
        value = "–" if head["value"] is None else f"{head['value']:.3f}"
        typer.echo(f"{label}: {head['metric']} = {value} ({c['scored']}/{c['samples']} judged, "
                   f"{c['failed']} failed, {c['missing']} missing, {c['unreadable']} unreadable)")
    typer.echo(f"report: {report}")

