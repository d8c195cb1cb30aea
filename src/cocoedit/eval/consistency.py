"""Keep-region consistency of edited results on a mask-annotated benchmark.

For every benchmark sample and every results folder: load the source, the edit mask (benchmark
files are white = keep) and the edited result; resize the result to the source resolution when
they differ (PIL bicubic on the 8-bit image, :data:`RESIZE_FILTER`); then compute

* ``keep_psnr``, ``keep_ssim``, ``keep_mae``, ``keep_mse``: result vs source on the keep region
  (:func:`cocoedit.core.metrics.keep_region_metrics`);
* ``edit_change``: mean absolute difference on the edit region (how much the edit changed);
* ``keep_fraction``: share of the image that is keep region;
* optionally ``keep_lpips``, ``keep_dino``, ``keep_clip``: perceptual keep-region metrics
  (:mod:`cocoedit.eval.perceptual`), present in the outputs only when their weights are given.

A keep region reproduced exactly (MSE 0) is an *exact copy*: its PSNR is written as
:data:`~cocoedit.core.metrics.PSNR_IDENTICAL_DB` and the summary counts such samples (``exact``)
so that reports can show "exact" and keep them out of plot scales.

Outputs in ``out_dir``: ``per_sample.csv`` (one row per sample and results folder, failures
included with their reason), ``summary.json`` (per category; overall as the macro average over
categories, as GEdit reports, and the sample-weighted mean) and ``report.html``.
A missing or unreadable result is listed and counted, never dropped silently.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from cocoedit.core.images import ImageFileError, open_rgb_image, pil_to_tensor
from cocoedit.core.masks import resize_mask
from cocoedit.core.metrics import SSIMMode, keep_region_metrics, region_mae
from cocoedit.core.paths import write_text_atomic
from cocoedit.eval.benchmarks import (
    BenchmarkError,
    BenchName,
    BenchSample,
    load_bench_edit_mask,
    load_bench_source,
    load_benchmark,
    result_path,
)
from cocoedit.eval.perceptual import PERCEPTUAL_METRICS, KeepRegionPerceptual

RESIZE_FILTER = "bicubic"
METRICS = ("keep_psnr", "keep_ssim", "keep_mae", "keep_mse", "edit_change")
SUMMARY_METRICS = ("keep_psnr", "keep_ssim", "keep_mae", "edit_change")
STATUSES = ("ok", "missing", "unreadable", "no_keep_region", "bench_error")


@dataclass
class SampleResult:
    results: str
    key: str
    category: str
    status: str
    keep_psnr: float = math.nan
    keep_ssim: float = math.nan
    keep_mae: float = math.nan
    keep_mse: float = math.nan
    edit_change: float = math.nan
    keep_lpips: float = math.nan
    keep_dino: float = math.nan
    keep_clip: float = math.nan
    keep_fraction: float = math.nan
    resized: bool = False
    result_path: str = ""
    source_path: str = ""
    mask_path: str = ""
    instruction: str = ""
    error: str = ""


def results_labels(results_dirs: Sequence[Path]) -> list[str]:
    """A unique label per results folder: its name, or ``parent/name`` when names collide."""
    labels = [Path(d).name for d in results_dirs]
    if len(set(labels)) < len(labels):
        labels = [f"{Path(d).parent.name}/{Path(d).name}" for d in results_dirs]
    if len(set(labels)) < len(labels):
        labels = [str(d) for d in results_dirs]
    if len(set(labels)) < len(labels):
        raise BenchmarkError(f"the same results folder is given twice: {[str(d) for d in results_dirs]}")
    return labels


def _load_result(path: Path, results_dir: Path, size: tuple[int, int]) -> tuple[torch.Tensor, bool]:
    im = open_rgb_image(path, root=results_dir)
    h, w = size
    if (im.height, im.width) == (h, w):
        return pil_to_tensor(im), False
    return pil_to_tensor(im.resize((w, h), Image.BICUBIC)), True


def score_sample(
    sample: BenchSample,
    source: torch.Tensor,
    edit_mask: torch.Tensor,
    results_dir: Path,
    label: str,
    ssim_mode: SSIMMode,
    perceptual: KeepRegionPerceptual | None = None,
) -> SampleResult:
    """Consistency metrics of one result against its source (``[3,H,W]``, mask ``[1,H,W]``)."""
    path = result_path(results_dir, sample)
    row = SampleResult(
        results=label,
        key=sample.key,
        category=sample.category,
        status="ok",
        result_path=str(path),
        source_path=str(sample.source),
        mask_path=str(sample.mask),
        instruction=sample.instruction or "",
    )
    if not path.is_file():
        row.status, row.error = "missing", f"no file at {path}"
        return row
    try:
        result, row.resized = _load_result(path, results_dir, tuple(source.shape[-2:]))
    except ImageFileError as e:
        row.status, row.error = "unreadable", str(e)
        return row
    x, y, m = result[None], source[None], edit_mask[None]
    keep = keep_region_metrics(x, y, m, ssim_mode=ssim_mode)
    row.keep_fraction = float(1.0 - m.mean())
    row.edit_change = float(region_mae(x, y, m)[0])
    if bool(keep.empty[0]):
        row.status, row.error = "no_keep_region", "the mask marks the whole image as edit region"
        return row
    row.keep_psnr, row.keep_ssim = float(keep.psnr[0]), float(keep.ssim[0])
    row.keep_mae, row.keep_mse = float(keep.mae[0]), float(keep.mse[0])
    if perceptual is not None:
        for name, value in perceptual(result, source, edit_mask).items():
            setattr(row, name, value)
    return row


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def is_exact_copy(row: SampleResult) -> bool:
    """The keep region was reproduced exactly (MSE 0, PSNR written as the 100 dB cap)."""
    return row.status == "ok" and row.keep_mse == 0.0


def summarize(
    rows: list[SampleResult], label: str, results_dir: Path, metrics: tuple[str, ...] = SUMMARY_METRICS
) -> dict[str, Any]:
    """The summary.json entry of one results folder."""
    mine = [r for r in rows if r.results == label]
    scored = [r for r in mine if r.status == "ok"]
    per_category: dict[str, dict[str, Any]] = {}
    for category in sorted({r.category for r in mine}):
        in_cat = [r for r in scored if r.category == category]
        entry: dict[str, Any] = {"n": len(in_cat), "samples": sum(r.category == category for r in mine)}
        for metric in metrics:
            entry[metric] = _nanmean([getattr(r, metric) for r in in_cat])
        per_category[category] = entry
    macro = {metric: _nanmean([c[metric] for c in per_category.values() if c["n"] > 0]) for metric in metrics}
    weighted = {metric: _nanmean([getattr(r, metric) for r in scored]) for metric in metrics}
    counts = {"samples": len(mine), "scored": len(scored), "exact": sum(map(is_exact_copy, scored))}
    counts.update({s: sum(r.status == s for r in mine) for s in STATUSES if s != "ok"})
    return {
        "dir": str(results_dir),
        "counts": counts,
        "overall_macro": macro,
        "overall_weighted": weighted,
        "per_category": per_category,
        "missing": [r.key for r in mine if r.status == "missing"],
        "unreadable": [{"key": r.key, "error": r.error} for r in mine if r.status == "unreadable"],
        "bench_errors": [{"key": r.key, "error": r.error} for r in mine if r.status == "bench_error"],
    }


def unscored_beyond(summary: dict[str, Any], allowed_fraction: float, examples: int = 3) -> list[str]:
    """One sentence per results folder where more than ``allowed_fraction`` of the samples could
    not be scored (result missing or unreadable, benchmark files broken), naming the counts and
    the first ``examples`` samples with their reasons. A mask without keep region is not a
    failure: there is nothing to measure."""
    out = []
    for label, res in summary["results"].items():
        c = res["counts"]
        failed = c["missing"] + c["unreadable"] + c["bench_error"]
        if failed and failed > allowed_fraction * c["samples"]:
            named = [f"{k}: missing" for k in res["missing"]] + [
                f"{e['key']}: {e['error']}" for e in res["unreadable"] + res["bench_errors"]
            ]
            more = f" (+{len(named) - examples} more)" if len(named) > examples else ""
            out.append(
                f"results {label!r}: {failed} of {c['samples']} samples not scored (missing {c['missing']}, "
                f"unreadable {c['unreadable']}, benchmark files broken {c['bench_error']}): "
                + "; ".join(named[:examples])
                + more
            )
    return out


def _json_safe(value: Any) -> Any:
    """NaN -> None so that summary.json is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def write_per_sample_csv(rows: list[SampleResult], path: Path, perceptual: tuple[str, ...] = ()) -> None:
    """One row per (sample, results folder); perceptual columns only for the metrics computed."""
    columns = [f.name for f in fields(SampleResult) if f.name not in PERCEPTUAL_METRICS or f.name in perceptual]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for r in rows:
            writer.writerow(
                {k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(r).items() if k in columns}
            )
    os.replace(tmp, path)


def evaluate_consistency(
    bench: BenchName,
    bench_dir: str | Path,
    results_dirs: Sequence[str | Path],
    out_dir: str | Path,
    ssim_mode: SSIMMode = "normalized",
    progress: Callable[[int], None] | None = None,
    perceptual: KeepRegionPerceptual | None = None,
) -> dict[str, Any]:
    """Score every results folder on the benchmark; write CSV, JSON summary and HTML report.

    ``progress`` is called with 1 after each (sample, results folder) pair; ``perceptual`` adds
    the perceptual metrics it holds. Returns the summary.
    """
    extra = perceptual.metrics if perceptual is not None else ()
    if not results_dirs:
        raise BenchmarkError("give at least one results folder")
    results_dirs = [Path(d) for d in results_dirs]
    for d in results_dirs:
        if not d.is_dir():
            raise BenchmarkError(f"{d}: results folder not found")
    labels = results_labels(results_dirs)
    samples = load_benchmark(bench, bench_dir)
    rows: list[SampleResult] = []
    with torch.inference_mode():
        for sample in samples:
            try:
                source = load_bench_source(sample)
                edit_mask = load_bench_edit_mask(sample)
                if tuple(edit_mask.shape[-2:]) != tuple(source.shape[-2:]):
                    edit_mask = resize_mask(edit_mask[None], tuple(source.shape[-2:]))[0]
            except (ImageFileError, BenchmarkError) as e:
                for label in labels:
                    rows.append(
                        SampleResult(
                            results=label,
                            key=sample.key,
                            category=sample.category,
                            status="bench_error",
                            source_path=str(sample.source),
                            error=str(e),
                        )
                    )
                    if progress:
                        progress(1)
                continue
            for label, results_dir in zip(labels, results_dirs, strict=True):
                rows.append(score_sample(sample, source, edit_mask, results_dir, label, ssim_mode, perceptual))
                if progress:
                    progress(1)
    summary = {
        "bench": bench,
        "bench_dir": str(bench_dir),
        "ssim_mode": ssim_mode,
        "resize_filter": RESIZE_FILTER,
        "perceptual": perceptual.info if perceptual is not None else None,
        "results": {
            label: summarize(rows, label, d, SUMMARY_METRICS + extra)
            for label, d in zip(labels, results_dirs, strict=True)
        },
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_per_sample_csv(rows, out_dir / "per_sample.csv", extra)
    write_text_atomic(out_dir / "summary.json", json.dumps(_json_safe(summary), indent=2))
    from cocoedit.eval.report import write_consistency_report

    write_consistency_report(out_dir)
    return summary
