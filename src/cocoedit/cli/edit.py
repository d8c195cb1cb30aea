"""``cocoedit edit``: edit one image, a manifest or a benchmark with an editor (and a LoRA)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cocoedit.cli.common import Bench, fail, parse_size
from cocoedit.cli.progress import progress


class SamplerOption(str, Enum):
    euler = "euler"
    dpm2 = "dpm2"
    sde = "sde"


class DtypeOption(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


def saveable_suffixes() -> list[str]:
    """The file suffixes PIL can write an image to (``.png``, ``.jpg``, ...)."""
    from PIL import Image

    Image.init()
    return sorted(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE)


def check_output_image(path: Path) -> None:
    """Refuse an output path the edited image could not be written to."""
    if path.is_dir():
        raise fail(f"-o {path}: is a folder; give an image file name, e.g. {path / 'edited.png'}")
    if path.suffix.lower() not in saveable_suffixes():
        suffix = f"the suffix {path.suffix!r}" if path.suffix else "no suffix"
        raise fail(f"-o {path}: cannot write an image with {suffix}; use one of {', '.join(saveable_suffixes())}")
    blocking = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise fail(f"-o {path}: {blocking} is a file, not a folder")


def edit(
    model: Annotated[str, typer.Option(help="Local pipeline folder or hub id.")],
    backbone: Annotated[
        Optional[str], typer.Option(help="Backbone kind; detected from model_index.json (local folder or hub cache).")
    ] = None,
    image: Annotated[Optional[Path], typer.Option(help="Single mode: source image.")] = None,
    prompt: Annotated[Optional[str], typer.Option(help="Single mode: the instruction.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Single mode: output image.")] = None,
    manifest: Annotated[Optional[Path], typer.Option(help="Batch mode: JSONL manifest; writes OUT/<id>.png.")] = None,
    bench: Annotated[Optional[Bench], typer.Option(help="Batch mode: a benchmark (with --bench-dir).")] = None,
    bench_dir: Annotated[Optional[Path], typer.Option(help="Mask-annotated benchmark folder.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Batch mode: results folder (the eval layout).")] = None,
    lora: Annotated[
        Optional[str],
        typer.Option(help="Diffusers-format LoRA: folder, .safetensors file or hub id (Hugging Face cache)."),
    ] = None,
    lora_scale: Annotated[float, typer.Option(help="LoRA strength.")] = 1.0,
    steps: Annotated[int, typer.Option(min=1, help="Sampling steps.")] = 28,
    guidance: Annotated[
        Optional[float], typer.Option(help="Guidance scale (Kontext embedding, Qwen true CFG).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initial noise (the same for every sample).")] = 0,
    size: Annotated[
        Optional[str], typer.Option(help="Working size N or HxW; default: the source's, capped by --max-area.")
    ] = None,
    max_area: Annotated[int, typer.Option(help="Pixel cap when --size is not given.")] = 1024 * 1024,
    sampler: Annotated[SamplerOption, typer.Option(help="Sampler.")] = SamplerOption.euler,
    noise_level: Annotated[float, typer.Option(help="SDE noise level (sampler sde only).")] = 0.7,
    device: Annotated[Optional[str], typer.Option(help="Default: cuda if available, else cpu.")] = None,
    dtype: Annotated[Optional[DtypeOption], typer.Option(help="Default: bfloat16 on CUDA, float32 on CPU.")] = None,
    cpu_offload: Annotated[bool, typer.Option(help="diffusers model CPU offload (CUDA).")] = False,
    vae_tiling: Annotated[bool, typer.Option(help="diffusers VAE tiling (large images).")] = False,
) -> None:
    """Edit one image, a manifest, or a benchmark with an editor (optionally with a LoRA)."""
    from cocoedit.core.devices import check_device
    from cocoedit.core.images import image_size, save_image
    from cocoedit.data.manifest import instruction_too_long
    from cocoedit.editing import (
        EditorOptions,
        EditSettings,
        check_manifest_sources,
        check_output_folder,
        check_source_not_tiny,
        check_source_working_side,
        edit_one,
        jobs_from_benchmark,
        jobs_from_manifest,
        load_editor,
        run_batch,
    )
    from cocoedit.models.lora import resolve_lora
    from cocoedit.models.lora_checks import check_lora_fits
    from cocoedit.models.registry import check_working_size, config_resolution_multiple, detect_kind

    single = image is not None or prompt is not None or output is not None
    if sum([single, manifest is not None, bench is not None]) != 1:
        raise typer.BadParameter("choose one mode: --image/--prompt/-o, --manifest/--out, or --bench/--bench-dir/--out")
    if single and (image is None or prompt is None or output is None):
        raise typer.BadParameter("single mode needs --image, --prompt and -o/--output")
    if not single and out is None:
        raise typer.BadParameter("batch mode needs --out")
    if bench is not None and bench_dir is None:
        raise typer.BadParameter("--bench needs --bench-dir")
    settings = EditSettings(steps, guidance, seed, sampler.value, noise_level, parse_size(size), max_area)
    # Everything that can be checked without the weights is checked first: loading FLUX or Qwen
    # takes minutes.
    if single and not prompt.strip():
        raise fail("--prompt is empty: give the edit instruction, e.g. --prompt 'make the sky blue'")
    if single and instruction_too_long(prompt) is not None:
        raise fail(f"--prompt: {instruction_too_long(prompt)}")
    if device is not None:
        check_device(device, "--device")
    kind = backbone or detect_kind(model)
    if settings.size is not None:
        check_working_size(model, kind, *settings.size)
    multiple = config_resolution_multiple(model, kind)
    lora_path = resolve_lora(lora) if lora is not None else None
    if lora_path is not None:
        check_lora_fits(lora_path, model)
    if single:
        source_hw = image_size(image)  # a missing or unreadable --image, named
        if settings.size is None:
            check_source_working_side(source_hw, max_area)
            if multiple is not None:
                check_source_not_tiny(source_hw, max_area, multiple, f"--image {image}")
        check_output_image(output)
        if output.resolve() == image.resolve():
            raise fail(f"-o {output} is the --image itself: write the edit to another file")
    else:
        jobs = (
            jobs_from_manifest(manifest, out)
            if manifest is not None
            else jobs_from_benchmark(bench.value, bench_dir, out)
        )
        check_output_folder(jobs, out)
        if manifest is not None:
            check_manifest_sources(jobs, settings, multiple)
    precision = dtype.value if dtype else None
    editor = load_editor(EditorOptions(model, kind, device, precision, cpu_offload, vae_tiling, lora_path, lora_scale))
    if single:
        save_image(edit_one(editor, image, prompt, settings), output)
        typer.echo(f"wrote {output}")
        return
    with progress("editing", len(jobs), "images") as task:
        report = run_batch(
            editor,
            jobs,
            settings,
            on_progress=lambda job: task.advance(),
            on_start=lambda todo, done: task.already_done(done, "skipped, already done"),
        )
    typer.echo(
        f"{len(report.written)} written, {len(report.skipped)} skipped (already done), "
        f"{len(report.failed)} failed -> {out}"
    )
    for key, why in report.failed.items():
        typer.echo(f"failed {key}: {why}", err=True)
    if report.failed:
        raise typer.Exit(1)
