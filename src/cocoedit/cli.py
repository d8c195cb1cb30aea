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
data_app = typer.Typer(no_args_is_help=True, help="Datasets: manifests, validation.")
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
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/demo"),
    per_category: Annotated[int, typer.Option(min=1, help="Samples per category.")] = 6,
) -> None:
    """The built-in default job: evaluate three synthetic editors on a generated GEdit-style
    benchmark and write the HTML report. No download, CPU only."""
    from cocoedit.eval.consistency import evaluate_consistency
    from cocoedit.eval.sample_bench import make_sample_benchmark

    made = make_sample_benchmark(out / "data", "gedit", per_category=per_category, size=(256, 320))
    results = list(made.results.values())
    with progress_bar("scoring", made.samples * len(results)) as advance:
        summary = evaluate_consistency("gedit", made.bench_dir, results, out / "consistency",
                                       progress=advance)
    _print_consistency_summary(summary)
    typer.echo(f"report: {out / 'consistency' / 'report.html'}")
