"""``cocoedit view``: one HTML page comparing results folders sample by sample.

The page (``OUT/index.html``, template ``view.html``) opens from disk with no server: its images are
written next to it (``OUT/images/``) and its data is a JSON block inside it; sorting, filtering,
zoom and flicker run in a little vanilla JavaScript (``templates/view.js``, inlined).

Pixels as they are: every image is stored as a lossless PNG. A sample whose source is larger than
``max_side`` (default :data:`THUMB_SIDE`; 0 = never) has all its images shrunk by one factor
(LANCZOS; error maps keep the largest error of each block), so source, results and maps stay at one
scale; otherwise they are stored exactly. The page upscales by nearest neighbour.

Per sample it shows the instruction, the source, the edit region, and for every results folder the
result, its keep-region error map (:mod:`cocoedit.core.error_map`), the consistency metrics
(``--consistency``: the folder's ``per_sample.csv``, perceptual columns included; else keep PSNR,
SSIM and MAE are computed here), the judge's scores with sub-scores and reasoning (``--judge``:
``judge_per_sample.csv``), and the human ratings (``--ratings``: a study's SQLite file or its
``ratings_summary.json``). A keep region reproduced exactly shows as "exact" and sorts above
every finite PSNR.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from cocoedit.core.error_map import ERROR_MAP_MAX, colour_scale_image, heatmap_image, keep_error_map, pooled_error_map
from cocoedit.core.formatting import format_number
from cocoedit.core.images import ImageFileError, open_rgb_image, pil_to_tensor
from cocoedit.core.masks import resize_mask
from cocoedit.core.pages import render
from cocoedit.core.paths import write_text_atomic
from cocoedit.core.reporting import Table, mask_overlay, table
from cocoedit.eval.benchmarks import (
    BenchmarkError,
    BenchSample,
    load_bench_edit_mask,
    load_benchmark,
    open_bench_source,
    result_path,
)
from cocoedit.eval.consistency import SampleResult, is_exact_copy, results_labels, score_sample
from cocoedit.viewer.export import SUMMARY_FILE, elo_text, ratings_summary
from cocoedit.viewer.ratings import RatingStore

THUMB_SIDE = 384
METRIC_COLUMNS = ("keep_psnr", "keep_ssim", "keep_mae", "edit_change", "keep_lpips", "keep_dino", "keep_clip")
JUDGE_COLUMNS = ("sc", "pq", "o", "success", "overedit", "naturalness", "artifacts", "score", "c1", "c2", "c3")
METRIC_TITLES = {
    "keep_psnr": "keep PSNR",
    "keep_ssim": "keep SSIM",
    "keep_mae": "keep MAE",
    "edit_change": "edit change",
    "keep_lpips": "keep LPIPS",
    "keep_dino": "keep DINO",
    "keep_clip": "keep CLIP",
    "o": "judge O",
    "score": "judge score",
    "sc": "judge SC",
    "pq": "judge PQ",
}
# Which way is better, for the "gap" sort: +1 higher is better, -1 lower is better.
BETTER = {
    "keep_psnr": 1,
    "keep_ssim": 1,
    "keep_mae": -1,
    "edit_change": 1,
    "keep_lpips": -1,
    "keep_dino": 1,
    "keep_clip": 1,
    "o": 1,
    "score": 1,
    "sc": 1,
    "pq": 1,
}


def _read_csv(path: Path, what: str) -> list[dict[str, str]]:
    if not path.is_file():
        raise BenchmarkError(f"{path}: no {what} here")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _number(text: str | None) -> float | None:
    if text in (None, ""):
        return None
    value = float(text)
    return None if math.isnan(value) else value


def storage_factor(size: tuple[int, int], max_side: int) -> float:
    """The one factor by which a sample's images are stored: 1 (exact) unless its source's longest
    side exceeds ``max_side`` (0 = no limit)."""
    return 1.0 if max_side <= 0 or max(size) <= max_side else max_side / max(size)


def _scaled(size: tuple[int, int], factor: float) -> tuple[int, int]:
    return size if factor == 1.0 else (max(1, round(size[0] * factor)), max(1, round(size[1] * factor)))


def _save_png(image: Image.Image, path: Path, factor: float, out: Path) -> dict[str, Any]:
    """Store ``image`` as a lossless PNG shrunk by ``factor`` (1 = exact); its path and stored size."""
    stored = image.convert("RGB")
    if factor != 1.0:
        stored = stored.resize(_scaled(stored.size, factor), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored.save(path, "PNG")
    return {"src": path.relative_to(out).as_posix(), "size": list(stored.size)}


def load_ratings(path: Path | None) -> dict[str, Any] | None:
    """A rating summary from a study's SQLite file or a ``ratings_summary.json``."""
    if path is None:
        return None
    if path.is_dir():
        path = path / SUMMARY_FILE
    if not path.is_file():
        raise BenchmarkError(f"{path}: ratings not found (give the study's .sqlite or its ratings_summary.json)")
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    store = RatingStore(path)
    try:
        return ratings_summary(store)
    finally:
        store.close()


def _metrics_row(row: SampleResult | dict[str, str], names: Sequence[str]) -> dict[str, Any]:
    get = (lambda n: getattr(row, n, None)) if isinstance(row, SampleResult) else (lambda n: _number(row.get(n)))
    out = {}
    for name in names:
        value = get(name)
        out[name] = None if value is None or (isinstance(value, float) and math.isnan(value)) else value
    return out


def _sample_entry(
    sample: BenchSample,
    index: int,
    labels: Sequence[str],
    folders: Sequence[Path],
    out: Path,
    metrics: dict[tuple[str, str], dict[str, Any]],
    judge: dict[tuple[str, str], dict[str, Any]],
    compute: bool,
    names: Sequence[str],
    max_side: int = 0,
) -> dict[str, Any]:
    """Lossless images, error maps and numbers of one sample in every folder."""
    folder = Path("images") / f"{index:05d}"
    entry: dict[str, Any] = {
        "key": sample.key,
        "category": sample.category,
        "instruction": sample.instruction or "",
        "results": {},
    }
    try:
        source_img = open_bench_source(sample)
        source = pil_to_tensor(source_img)
        edit_mask = load_bench_edit_mask(sample)
        if tuple(edit_mask.shape[-2:]) != tuple(source.shape[-2:]):
            edit_mask = resize_mask(edit_mask[None], tuple(source.shape[-2:]))[0]
    except (ImageFileError, BenchmarkError) as e:
        entry["error"] = str(e)
        return entry
    factor = storage_factor(source_img.size, max_side)
    entry["original_size"] = list(source_img.size)
    stored = _save_png(source_img, out / folder / "source.png", factor, out)
    entry["source"], entry["size"] = stored["src"], stored["size"]
    overlay = mask_overlay(source_img, edit_mask)
    entry["mask"] = _save_png(overlay, out / folder / "edit-region.png", factor, out)["src"]
    for i, (label, results_dir) in enumerate(zip(labels, folders, strict=True)):
        cell: dict[str, Any] = {"judge": judge.get((label, sample.key))}
        path = result_path(results_dir, sample)
        row = score_sample(sample, source, edit_mask, results_dir, label, "normalized") if compute else None
        cell["metrics"] = _metrics_row(row, names) if compute else metrics.get((label, sample.key))
        try:
            result_img = open_rgb_image(path)
        except ImageFileError as e:
            cell["status"] = "missing" if not path.is_file() else "unreadable"
            cell["error"] = str(e)
            entry["results"][label] = cell
            continue
        cell["status"] = "ok"
        cell["exact"] = bool(row is not None and is_exact_copy(row)) or bool(
            cell["metrics"] and cell["metrics"].get("keep_mae") == 0.0
        )
        result = pil_to_tensor(result_img.resize(source_img.size, Image.BICUBIC))
        cell["original_size"] = list(result_img.size)
        stored = _save_png(result_img, out / folder / f"result-{i}.png", factor, out)
        cell["image"], cell["size"] = stored["src"], stored["size"]
        error = keep_error_map(result, source, edit_mask)
        if factor != 1.0:
            error = pooled_error_map(error, max(_scaled(source_img.size, factor)))
        cell["error_map"] = _save_png(heatmap_image(error), out / folder / f"error-{i}.png", 1.0, out)["src"]
        entry["results"][label] = cell
    return entry


def _folder_summary(
    samples: list[dict[str, Any]],
    labels: Sequence[str],
    names: Sequence[str],
    ratings: dict[str, Any] | None,
    has_judge: bool,
) -> Table:
    """Per folder: counts, exact copies, metric means over non-exact samples, judge and rating."""
    standings = {s["label"]: s for s in (ratings or {}).get("standings", [])}
    rows = []
    for label in labels:
        cells = [s["results"].get(label, {}) for s in samples]
        ok = [c for c in cells if c.get("status") == "ok"]
        exact = sum(bool(c.get("exact")) for c in ok)
        row: list[Any] = [label, len(cells), len(ok), exact]
        for name in names:
            values = [
                c["metrics"][name]
                for c in ok
                if c.get("metrics")
                and c["metrics"].get(name) is not None
                and not (name == "keep_psnr" and c.get("exact"))
            ]
            row.append(sum(values) / len(values) if values else None)
        if has_judge:
            judged = [c["judge"] for c in cells if c.get("judge")]
            key = "o" if judged and "o" in judged[0] else "score"
            values = [j[key] for j in judged if j.get(key) is not None]
            row.append(sum(values) / len(values) if values else None)
        if ratings is not None:
            s = standings.get(label, {})
            row += [
                s.get("win_rate"),
                elo_text(s) if s else None,
                "–"
                if s.get("elo_low") is None
                else f"{format_number(s['elo_low'], 'int')} to {format_number(s['elo_high'], 'int')}",
            ]
        rows.append(row)
    columns = ["results", "samples", "shown", "exact copies"] + [
        METRIC_TITLES[n] + (" (exact copies left out)" if n == "keep_psnr" else "") + " mean" for n in names
    ]
    judge_key = next(
        (
            ("O" if "o" in c["judge"] else "score")
            for s in samples
            for c in s["results"].values()
            if c.get("judge") and c["judge"].get("status") == "scored"
        ),
        "score",
    )
    columns += [f"judge {judge_key} mean"] if has_judge else []
    columns += ["human win rate", "human Bradley–Terry (Elo)", "95 % interval"] if ratings is not None else []
    return table(columns, rows)


def build_view(
    bench: str,
    bench_dir: str | Path,
    results: Sequence[str | Path],
    out_dir: str | Path,
    consistency: str | Path | None = None,
    judge: str | Path | None = None,
    ratings: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    max_side: int = THUMB_SIDE,
) -> Path:
    """Write ``out_dir/index.html`` and its images; return the page's path.

    ``max_side``: a sample whose source's longest side exceeds it is stored shrunk to it (0 = keep
    every image at its size)."""
    if max_side < 0:
        raise BenchmarkError(f"max_side must be 0 (no limit) or a number of pixels, got {max_side}")
    folders = [Path(d) for d in results]
    if not folders:
        raise BenchmarkError("give at least one results folder")
    for d in folders:
        if not d.is_dir():
            raise BenchmarkError(f"{d}: results folder not found")
    labels = results_labels(folders)
    samples = load_benchmark(bench, bench_dir)  # type: ignore[arg-type]
    names: list[str] = ["keep_psnr", "keep_ssim", "keep_mae", "edit_change"]
    metrics: dict[tuple[str, str], dict[str, Any]] = {}
    if consistency is not None:
        rows = _read_csv(Path(consistency) / "per_sample.csv", "per_sample.csv from `cocoedit eval consistency`")
        names += [n for n in ("keep_lpips", "keep_dino", "keep_clip") if rows and n in rows[0]]
        metrics = {(r["results"], r["key"]): _metrics_row(r, names) for r in rows}
        unknown = sorted({label for label, _ in metrics} - set(labels))
        if not set(labels) & {label for label, _ in metrics}:
            raise BenchmarkError(f"{consistency}: its results ({', '.join(unknown)}) are none of {', '.join(labels)}")
    judged: dict[tuple[str, str], dict[str, Any]] = {}
    if judge is not None:
        for r in _read_csv(Path(judge) / "judge_per_sample.csv", "judge_per_sample.csv from `cocoedit eval judge`"):
            scores = {k: _number(r.get(k)) for k in JUDGE_COLUMNS if _number(r.get(k)) is not None}
            judged[(r["results"], r["key"])] = {
                **scores,
                "status": r["status"],
                "reasoning": r.get("reasoning", ""),
                "reason": r.get("reason", ""),
            }
    rating = load_ratings(Path(ratings) if ratings is not None else None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    with torch.inference_mode():
        for index, sample in enumerate(samples):
            entry = _sample_entry(
                sample, index, labels, folders, out, metrics, judged, consistency is None, names, max_side
            )
            if rating is not None:
                entry["ratings"] = rating.get("per_sample", {}).get(sample.key, [])
            entries.append(entry)
            if progress:
                progress(1)
    sort_keys = [n for n in names] + (
        [k for k in ("o", "sc", "pq", "score") if any((j.get(k) is not None) for j in judged.values())]
    )
    data = {
        "labels": labels,
        "metrics": names,
        "sortable": sort_keys,
        "titles": METRIC_TITLES,
        "better": BETTER,
        "judge": bool(judged),
        "ratings": rating is not None,
        "samples": entries,
    }
    sources = [f"consistency: {consistency}" if consistency else "consistency: computed here (PSNR, SSIM, MAE)"]
    sources += [f"judge: {judge}"] if judge else []
    sources += [f"ratings: {ratings}"] if ratings else []
    (out / "images").mkdir(parents=True, exist_ok=True)
    colour_scale_image(width=256, height=1).save(out / "images" / "colour-bar.png", "PNG")
    page = render(
        "view.html",
        title=f"Side by side: {bench}",
        subtitle="Compared: " + ", ".join(labels),
        bench=bench,
        bench_dir=str(bench_dir),
        sources="; ".join(sources),
        error_map_max=ERROR_MAP_MAX,
        max_side=max_side,
        folder_table=_folder_summary(entries, labels, names, rating, bool(judged)),
        data=data,
    )
    path = out / "index.html"
    write_text_atomic(path, page)
    return path
