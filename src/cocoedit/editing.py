"""Editing with a loaded editor, for ``cocoedit edit``: one image, or jobs from a manifest or a
benchmark, resumable, with per-sample errors.

:func:`load_editor` loads a backbone (and a LoRA) from :class:`EditorOptions`.

Output layouts are the ones `cocoedit eval consistency` reads: for a benchmark,
``<out>/<BenchSample.result_relpath>`` (GEdit ``fullset/<task>/<lang>/<key>.png``, ImgEdit flat
``<key>.png``); for a manifest, ``<out>/<safe_file_name(sample id, ".png")>`` (the id itself when
it is made of ``A-Za-z0-9._-``, see :mod:`cocoedit.core.paths`). Every sample uses a generator seeded
with the same ``seed`` (as the reference benchmark scripts do), so a resumed run writes what an
uninterrupted one would have.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cocoedit.core.errors import CocoEditError
from cocoedit.core.images import ImageFileError, image_size, load_image, save_image
from cocoedit.core.paths import output_paths_for_ids
from cocoedit.models.backbone import MAX_WORKING_SIDE, EditBackbone
from cocoedit.models.condition import BackboneError
from cocoedit.models.generate import edit_images


class EditInputError(CocoEditError):
    """A batch cannot be edited as asked (its inputs or its output folder); the message names the
    rows or files."""


@dataclass(frozen=True)
class EditJob:
    """One image to edit: where the source is, what to do, where the result goes. With
    ``source_root``, the source is read only if its real path is inside it (a benchmark's sources).
    ``inputs`` are every file of the row (source, mask, target), none of which may be written."""

    key: str
    source: Path
    instruction: str | None
    output: Path
    source_root: Path | None = None
    inputs: tuple[Path, ...] = ()


@dataclass
class BatchReport:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EditSettings:
    num_steps: int
    guidance: float | None
    seed: int
    sampler: str = "euler"
    noise_level: float = 0.7
    size: tuple[int, int] | None = None  # (height, width); None: from the source image
    max_area: int = 1024 * 1024


@dataclass(frozen=True)
class EditorOptions:
    """Which editor to load and how: a local folder or hub id, its backbone kind (None: detect),
    device (None: CUDA if available), dtype name (None: bf16 on CUDA, float32 on CPU), diffusers
    model CPU offload and VAE tiling, and an optional diffusers-format LoRA at ``lora_scale``."""

    model: str
    backbone: str | None = None
    device: str | None = None
    dtype: str | None = None
    cpu_offload: bool = False
    vae_tiling: bool = False
    lora: Path | None = None
    lora_scale: float = 1.0


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_editor(options: EditorOptions) -> EditBackbone:
    """The backbone of ``options``, on its device, with the LoRA (if any) active as ``"edit"``."""
    from cocoedit.models.lora import load_lora
    from cocoedit.models.registry import load_backbone

    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = DTYPES[options.dtype] if options.dtype else (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    backbone = load_backbone(
        options.model, kind=options.backbone, dtype=dtype, device=None if options.cpu_offload else device
    )
    if options.cpu_offload:
        backbone.pipeline.enable_model_cpu_offload(device=device)
        backbone.refresh_placement()
    if options.vae_tiling:
        backbone.pipeline.vae.enable_tiling()
    if options.lora is not None:
        load_lora(backbone, options.lora, "edit", scale=options.lora_scale)
    backbone.pipeline.set_progress_bar_config(disable=True)
    return backbone


def jobs_from_manifest(manifest: str | Path, out_dir: str | Path) -> list[EditJob]:
    """One job per row, written to ``out_dir / safe_file_name(id, ".png")``; two ids that would
    share a file are refused before anything is edited."""
    from cocoedit.data.manifest import read_manifest

    samples = read_manifest(manifest)
    outputs = output_paths_for_ids(out_dir, [s.id for s in samples], ".png")
    return [
        EditJob(
            s.id, s.source, s.instruction, outputs[s.id], inputs=tuple(p for p in (s.source, s.mask, s.target) if p)
        )
        for s in samples
    ]


def jobs_from_benchmark(bench: str, bench_dir: str | Path, out_dir: str | Path) -> list[EditJob]:
    from cocoedit.eval.benchmarks import load_benchmark

    out_dir = Path(out_dir)
    return [
        EditJob(
            s.key,
            s.source,
            s.instruction,
            out_dir / s.result_relpath,
            source_root=s.root,
            inputs=tuple(p for p in (s.source, s.mask) if p),
        )
        for s in load_benchmark(bench, bench_dir)
    ]


def _entry(path: Path) -> str:
    """The directory entry ``path`` names: its folder's links resolved, not its own."""
    return os.path.join(os.path.realpath(path.parent), path.name)


def check_output_folder(jobs: list[EditJob], out_dir: str | Path) -> None:
    """Refuse, before a model loads, an ``--out`` that would write an input (the dataset's own
    images: the unedited sources would count as finished edits), that is the folder of the sources,
    or that holds a symbolic link (existing or dangling) where a result goes or a linked folder
    leading out of it: results are never written through a link."""
    out_dir = Path(out_dir)
    inputs = {}
    for job in jobs:
        for p in job.inputs:
            inputs[_entry(p)] = inputs[os.path.realpath(p)] = p
    source_folders = {os.path.realpath(job.source.parent): job.source for job in jobs}
    if os.path.realpath(out_dir) in source_folders:
        example = source_folders[os.path.realpath(out_dir)]
        raise EditInputError(
            f"--out {out_dir} is the folder of the sources ({example} ...): their unedited images would count as "
            "results; choose a folder that holds no input"
        )
    out_real = os.path.realpath(out_dir)
    problems = []
    for job in jobs:
        hit = inputs.get(_entry(job.output)) or inputs.get(os.path.realpath(job.output))
        if hit is not None:
            raise EditInputError(
                f"--out {out_dir}: the result {job.output} would be the input file {hit}; choose a folder that holds "
                "no input"
            )
        if os.path.islink(job.output):
            problems.append(f"{job.output} is a symbolic link (to {os.readlink(job.output)})")
        elif not Path(os.path.realpath(job.output.parent)).is_relative_to(out_real):
            problems.append(f"{job.output.parent} leads out of --out (to {os.path.realpath(job.output.parent)})")
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise EditInputError(
            f"--out {out_dir}: results are not written through links: {'; '.join(problems[:3])}{more}; remove them"
        )


def check_manifest_sources(jobs: list[EditJob], settings: EditSettings, multiple: int | None, shown: int = 10) -> None:
    """Before a model loads: every source of a manifest must be readable and of a size the editor
    edits (not tiny, not above the largest working side); all problems are named, ten at most."""
    problems = []
    for job in jobs:
        try:
            hw = image_size(job.source)
            if settings.size is None:
                check_source_working_side(hw, settings.max_area)
                if multiple is not None:
                    check_source_not_tiny(hw, settings.max_area, multiple, str(job.source))
        except (ImageFileError, BackboneError) as e:
            problems.append(f"[{job.key}] {e}")
    if problems:
        more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
        raise EditInputError(
            f"{len(problems)} of {len(jobs)} source(s) cannot be edited: {'; '.join(problems[:shown])}{more}"
        )


def _scaled_to_area(source_hw: tuple[int, int], max_area: int) -> tuple[int, int]:
    """The source's size at no more than ``max_area`` pixels, same aspect, never upscaled."""
    h, w = source_hw
    scale = min(1.0, (max_area / (h * w)) ** 0.5)
    return int(h * scale), int(w * scale)


def check_source_working_side(source_hw: tuple[int, int], max_area: int) -> None:
    """Refuse, before a model loads, a source whose working size (capped by ``max_area``) would
    have a side above :data:`~cocoedit.models.backbone.MAX_WORKING_SIDE`."""
    h, w = _scaled_to_area(source_hw, max_area)
    if max(h, w) > MAX_WORKING_SIDE:
        raise BackboneError(
            f"the source's working size would be {h}x{w}, above the largest supported side, "
            f"{MAX_WORKING_SIDE} pixels; pass --size or a smaller --max-area"
        )


def check_source_not_tiny(source_hw: tuple[int, int], max_area: int, multiple: int, name: str) -> None:
    """Refuse a source whose working size (capped by ``max_area``, never upscaled) has a side below
    the backbone's ``multiple``: it would be blown up to ``multiple`` pixels without a word."""
    h, w = _scaled_to_area(source_hw, max_area)
    if min(h, w) < multiple:
        size = f"{source_hw[1]}x{source_hw[0]}"
        working = "" if (h, w) == tuple(source_hw) else f" ({w}x{h} at --max-area {max_area})"
        raise BackboneError(
            f"{name}: the source is {size} pixels{working}; the smallest source this editor edits at its own size "
            f"is {multiple}x{multiple} (working sides are multiples of {multiple}); pass --size to choose one"
        )


def working_size(backbone: EditBackbone, source_hw: tuple[int, int], max_area: int) -> tuple[int, int]:
    """The source's aspect at no more than ``max_area`` pixels (never upscaled), snapped down to
    the backbone's resolution multiple."""
    h, w = _scaled_to_area(source_hw, max_area)
    m = backbone.resolution_multiple
    return max(m, h // m * m), max(m, w // m * m)


def edit_one(
    backbone: EditBackbone, source: Path, instruction: str, settings: EditSettings, source_root: Path | None = None
) -> torch.Tensor:
    """Edit one image file (inside ``source_root``, if given); returns ``[3, H, W]`` in [0, 1] at
    the working size."""
    image = load_image(source, root=source_root)
    if settings.size is None:
        check_source_not_tiny(tuple(image.shape[1:]), settings.max_area, backbone.resolution_multiple, str(source))
    height, width = settings.size or working_size(backbone, tuple(image.shape[1:]), settings.max_area)
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    return edit_images(
        backbone,
        instruction,
        image,
        height,
        width,
        settings.num_steps,
        guidance=settings.guidance,
        sampler=settings.sampler,
        generator=generator,
        noise_level=settings.noise_level,
    )[0]


def _already_done(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        image_size(path)
    except ImageFileError:
        return False  # truncated or corrupt: redo it
    return True


def run_batch(
    backbone: EditBackbone,
    jobs: Iterable[EditJob],
    settings: EditSettings,
    on_progress: Callable[[EditJob], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> BatchReport:
    """Edit every job, skipping outputs that exist and are readable; failures are recorded per key.

    ``on_start(todo, done)`` is called once before the first edit with the counts of jobs to edit
    and of outputs already done (skipped); ``on_progress(job)`` after each job edited or failed."""
    report = BatchReport()
    todo = []
    for job in jobs:
        if _already_done(job.output):
            report.skipped.append(job.key)
        else:
            todo.append(job)
    if on_start is not None:
        on_start(len(todo), len(report.skipped))
    for job in todo:
        try:
            if not job.instruction:
                report.failed[job.key] = f"{job.source}: no instruction for this sample"
            else:
                save_image(edit_one(backbone, job.source, job.instruction, settings, job.source_root), job.output)
                report.written.append(job.key)
        except Exception as e:  # one bad sample must not stop the batch; it is reported
            report.failed[job.key] = f"{type(e).__name__}: {e}"
        if on_progress is not None:
            on_progress(job)
    return report
