"""Command-line interface (typer)."""
import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="cocoedit")


# ==== backbones (issue 3): `cocoedit dev make-tiny`, `cocoedit edit` =========================
from pathlib import Path as _Path  # noqa: E402

dev_app = typer.Typer(no_args_is_help=True, help="Developer tools (tiny offline models).")
app.add_typer(dev_app, name="dev")


@dev_app.command("make-tiny")
def dev_make_tiny(
    backbone: str = typer.Option(..., help="kontext | qwen-image-edit | qwen-image-edit-plus"),
    out: _Path = typer.Option(..., help="Empty or new folder to write the pipeline to."),
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
    image: _Path | None = typer.Option(None, help="Single mode: source image."),
    prompt: str | None = typer.Option(None, help="Single mode: the instruction."),
    output: _Path | None = typer.Option(None, "--output", "-o", help="Single mode: output image."),
    manifest: _Path | None = typer.Option(None, help="Batch mode: JSONL manifest; writes OUT/<id>.png."),
    bench: str | None = typer.Option(None, help="Batch mode: gedit | imgedit (with --bench-dir)."),
    bench_dir: _Path | None = typer.Option(None, help="Mask-annotated benchmark folder."),
    out: _Path | None = typer.Option(None, help="Batch mode: results folder (the eval layout)."),
    lora: _Path | None = typer.Option(None, help="Diffusers-format LoRA folder or .safetensors file."),
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
        if vae_tiling:
            bb.pipeline.vae.enable_tiling()
        if lora is not None:
            load_lora(bb, lora, "edit", scale=lora_scale)
    except (BackboneError, LoraError, OSError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    bb.pipeline.set_progress_bar_config(disable=True)
    settings = EditSettings(steps, guidance, seed, sampler, noise_level, _parse_size(size), max_area)

    if single:
        from cocoedit.data.io import save_image

        try:
            result = edit_one(bb, image, prompt, settings)
        except (BackboneError, ValueError) as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        save_image(result, output)
        typer.echo(f"wrote {output}")
        return

    try:
        jobs = jobs_from_manifest(manifest, out) if manifest is not None else jobs_from_benchmark(bench, bench_dir, out)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    with Progress(transient=False) as progress:
        task = progress.add_task("editing", total=len(jobs))
        report = run_batch(bb, jobs, settings, on_progress=lambda job: progress.advance(task))
    typer.echo(f"{len(report.written)} written, {len(report.skipped)} skipped (already done), "
               f"{len(report.failed)} failed -> {out}")
    for key, why in report.failed.items():
        typer.echo(f"failed {key}: {why}", err=True)
    if report.failed:
        raise typer.Exit(1)
# ==== end backbones ==========================================================================
