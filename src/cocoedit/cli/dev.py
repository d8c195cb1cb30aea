"""``cocoedit dev``: generated benchmarks, datasets and tasks; tiny random-weight pipelines."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cocoedit.cli.common import Bench, CocoEditGroup, fail

app = typer.Typer(
    cls=CocoEditGroup,
    no_args_is_help=True,
    help="Developer tools: generated benchmarks, datasets and tasks, tiny models.",
)


class TinyKind(str, Enum):
    """The kinds with a tiny builder (``cocoedit.testing.tiny.BACKBONE_KINDS``; a test keeps them equal)."""

    kontext = "kontext"
    qwen_image_edit = "qwen-image-edit"
    qwen_image_edit_plus = "qwen-image-edit-plus"
    flux2_klein = "flux2-klein"
    flux2 = "flux2"
    qwen_image_21 = "qwen-image-2.1"


@app.command("make-bench")
def make_bench(
    bench: Annotated[Bench, typer.Option(help="Layout to write.")],
    out: Annotated[Path, typer.Option(help="Folder: bench/ plus one results folder per synthetic editor.")],
    per_category: Annotated[int, typer.Option(min=1, help="Samples per category.")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write a small mask-annotated benchmark from real photos, with synthetic editors' results."""
    from cocoedit.testing.sample_data import make_sample_benchmark

    made = make_sample_benchmark(out, bench.value, per_category=per_category, seed=seed)
    typer.echo(f"benchmark: {made.bench_dir} ({made.samples} samples)")
    for name, path in made.results.items():
        typer.echo(f"results ({name}): {path}")


@app.command("make-dataset")
def make_dataset(
    out: Annotated[Path, typer.Option(help="Folder for images/, masks/, targets/ and manifest.jsonl.")],
    samples: Annotated[int, typer.Option(min=1, help="Number of samples.")] = 16,
    size: Annotated[int, typer.Option(min=16, help="Square image side.")] = 64,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write a small training manifest from real photos (edit regions, instructions, targets)."""
    from cocoedit.testing.sample_data import make_sample_manifest

    typer.echo(f"manifest: {make_sample_manifest(out, samples, (size, size), seed)}")


@app.command("make-synthetic")
def make_synthetic(
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


@app.command("make-tiny")
def make_tiny(
    backbone: Annotated[TinyKind, typer.Option(help="The editor whose tiny version to write.")],
    out: Annotated[Path, typer.Option(help="Empty or new folder to write the pipeline to.")],
    seed: Annotated[int, typer.Option(help="Seed of the random weights.")] = 0,
) -> None:
    """Write a tiny random-weight editing pipeline that the stock diffusers class loads offline."""
    from cocoedit.testing.tiny import save_tiny_pipeline

    try:
        path = save_tiny_pipeline(backbone.value, out, seed)
    except FileExistsError as e:
        raise fail(str(e)) from None
    typer.echo(f"wrote tiny {backbone.value} pipeline to {path}")
