"""Mask-annotated GEdit-Bench and ImgEdit-Bench: where sources, masks and results live.

Benchmark layouts (the CoCoEdit release ``GEditBench_ImgEditBench_with_mask``):

* **GEdit**: ``<bench>/fullset/<task>/<lang>/<key>.png`` (source) and ``<key>_mask.png``, with an
  optional ``metafile_geditbench.json``. Results: ``<results>/fullset/<task>/<lang>/<key>.png``.
* **ImgEdit**: ``<bench>/singleturn/<category>/<id>.png`` and ``<id>_mask.png``, with an optional
  ``metafile_imgeditbench.json``. Results: flat ``<results>/<key>.png``, where ``key`` is the
  metafile key of the sample (its file stem when there is no metafile).

Benchmark masks are white = keep (non-edit region); :func:`load_bench_edit_mask` returns the
internal convention (1 = edit).

Metafiles are read tolerantly: a JSON object ``{key: record}`` or a list of records; the
instruction is taken from the first present of ``instruction``, ``prompt``, ``caption``,
``edit_instruction``, ``text``; the edit type from ``edit_type``, ``task_type``, ``type``;
records are matched to files by key, by ``id``/``key`` fields, or by the stem of a path-like field
(``id``, ``image``, ``ref_image_path``, ``input_image``, ``source``). Samples without a metafile
entry keep ``instruction=None``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from cocoedit.core.errors import CocoEditError
from cocoedit.core.images import load_edit_mask

BenchName = Literal["gedit", "imgedit"]
BENCHES: tuple[str, ...] = ("gedit", "imgedit")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MASK_SUFFIX = "_mask"
METAFILES = {"gedit": "metafile_geditbench.json", "imgedit": "metafile_imgeditbench.json"}
INSTRUCTION_FIELDS = ("instruction", "prompt", "caption", "edit_instruction", "text")
TYPE_FIELDS = ("edit_type", "task_type", "type")
PATH_LIKE_FIELDS = ("id", "image", "ref_image_path", "input_image", "source", "image_path")


class BenchmarkError(CocoEditError):
    """The benchmark folder does not have the expected layout."""


@dataclass(frozen=True)
class BenchSample:
    """One benchmark case.

    ``key`` is unique within the benchmark; ``category`` is what per-category tables group by
    (GEdit: task type; ImgEdit: the metafile's edit type, else the folder). ``result_relpath`` is
    where a results folder holds this sample's edited image.
    """

    bench: BenchName
    key: str
    category: str
    source: Path
    mask: Path | None
    instruction: str | None
    result_relpath: str
    language: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _image_files(folder: Path) -> dict[str, Path]:
    """Stem -> path of the source images in a folder (mask files excluded)."""
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith(MASK_SUFFIX):
            if p.stem in out:
                raise BenchmarkError(f"{folder}: two source images share the stem {p.stem!r}")
            out[p.stem] = p
    return out


def _mask_for(image: Path) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        candidate = image.with_name(f"{image.stem}{MASK_SUFFIX}{suffix}")
        if candidate.is_file():
            return candidate
    return None


def _first(record: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _load_metafile(bench_dir: Path, bench: BenchName) -> dict[str, dict[str, Any]]:
    """Metafile as ``{key: record}``; empty if absent. Raises on a malformed file."""
    path = bench_dir / METAFILES[bench]
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BenchmarkError(f"{path}: bad JSON: {e.msg} at line {e.lineno}") from None
    if isinstance(data, list):
        records = {}
        for i, rec in enumerate(data):
            if not isinstance(rec, dict):
                raise BenchmarkError(f"{path}: entry {i} is not a JSON object")
            key = rec.get("key", rec.get("id", i))
            records[str(key)] = rec
        return records
    if isinstance(data, dict):
        bad = [k for k, v in data.items() if not isinstance(v, dict)]
        if bad:
            raise BenchmarkError(f"{path}: entry {bad[0]!r} is not a JSON object")
        return {str(k): v for k, v in data.items()}
    raise BenchmarkError(f"{path}: expected a JSON object or list, got {type(data).__name__}")


def _index_metafile(records: dict[str, dict[str, Any]]) -> dict[str, list[tuple[str, dict]]]:
    """Lookup from every name a record may be known by (key, id, path stems) to (key, record)."""
    index: dict[str, list[tuple[str, dict]]] = {}

    def add(name: str, key: str, rec: dict) -> None:
        bucket = index.setdefault(name, [])
        if all(k != key for k, _ in bucket):
            bucket.append((key, rec))

    for key, rec in records.items():
        add(key, key, rec)
        for name in PATH_LIKE_FIELDS + ("key",):
            value = rec.get(name)
            if isinstance(value, (str, int)) and str(value):
                add(str(value), key, rec)
                add(Path(str(value)).stem, key, rec)
    return index


def _match(index: dict, names: list[str], folder: str) -> tuple[str, dict] | None:
    for name in names:
        hits = index.get(name, [])
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:  # the same stem in several folders: prefer the record naming our folder
            in_folder = [h for h in hits if any(folder in str(h[1].get(f, "")) for f in PATH_LIKE_FIELDS)]
            if len(in_folder) == 1:
                return in_folder[0]
    return None


def load_benchmark(bench: BenchName, bench_dir: str | Path) -> list[BenchSample]:
    """Every sample of a mask-annotated benchmark folder, sorted by (category, key)."""
    if bench not in BENCHES:
        raise BenchmarkError(f"unknown benchmark {bench!r}; choose one of {', '.join(BENCHES)}")
    bench_dir = Path(bench_dir)
    if not bench_dir.is_dir():
        raise BenchmarkError(f"{bench_dir}: benchmark folder not found")
    records = _load_metafile(bench_dir, bench)
    index = _index_metafile(records)
    samples = _load_gedit(bench_dir, index) if bench == "gedit" else _load_imgedit(bench_dir, index)
    if not samples:
        expected = "fullset/<task>/<lang>/<key>.png" if bench == "gedit" else "singleturn/<category>/<id>.png"
        raise BenchmarkError(f"{bench_dir}: no {bench} samples found (expected {expected})")
    keys: dict[str, BenchSample] = {}
    for s in samples:
        if s.key in keys:
            raise BenchmarkError(
                f"{bench_dir}: key {s.key!r} is used by both {keys[s.key].source} and {s.source}"
            )
        keys[s.key] = s
    return sorted(samples, key=lambda s: (s.category, s.key))


def _load_gedit(bench_dir: Path, index: dict) -> list[BenchSample]:
    root = bench_dir / "fullset"
    if not root.is_dir():
        raise BenchmarkError(f"{bench_dir}: no 'fullset' folder (GEdit layout fullset/<task>/<lang>/)")
    samples = []
    for task_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for lang_dir in sorted(p for p in task_dir.iterdir() if p.is_dir()):
            for stem, image in _image_files(lang_dir).items():
                rel = f"fullset/{task_dir.name}/{lang_dir.name}/{stem}.png"
                hit = _match(index, [f"{task_dir.name}/{lang_dir.name}/{stem}", stem], task_dir.name)
                rec = hit[1] if hit else {}
                samples.append(
                    BenchSample(
                        bench="gedit",
                        key=f"{task_dir.name}/{lang_dir.name}/{stem}",
                        category=task_dir.name,
                        source=image,
                        mask=_mask_for(image),
                        instruction=_first(rec, INSTRUCTION_FIELDS),
                        result_relpath=rel,
                        language=lang_dir.name,
                        extra={"intersection": bool(rec.get("Intersection_exist", rec.get("intersection", False)))},
                    )
                )
    return samples


def _load_imgedit(bench_dir: Path, index: dict) -> list[BenchSample]:
    root = bench_dir / "singleturn"
    if not root.is_dir():
        raise BenchmarkError(f"{bench_dir}: no 'singleturn' folder (ImgEdit layout singleturn/<category>/)")
    samples = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for stem, image in _image_files(folder).items():
            hit = _match(index, [f"{folder.name}/{stem}", stem], folder.name)
            key, rec = hit if hit else (stem, {})
            samples.append(
                BenchSample(
                    bench="imgedit",
                    key=key,
                    category=_first(rec, TYPE_FIELDS) or folder.name,
                    source=image,
                    mask=_mask_for(image),
                    instruction=_first(rec, INSTRUCTION_FIELDS),
                    result_relpath=f"{key}.png",
                    extra={"folder": folder.name},
                )
            )
    return samples


def result_path(results_dir: str | Path, sample: BenchSample) -> Path:
    """Where ``results_dir`` holds the edited image of ``sample``.

    A ``.png`` is expected; if it is absent an image with the same stem and another common suffix
    (``.jpg``, ``.jpeg``, ``.webp``) is accepted, since several samplers write JPEG.
    """
    expected = Path(results_dir) / sample.result_relpath
    if expected.is_file():
        return expected
    for suffix in IMAGE_SUFFIXES:
        alt = expected.with_suffix(suffix)
        if alt.is_file():
            return alt
    return expected


def load_bench_edit_mask(sample: BenchSample) -> torch.Tensor:
    """The sample's edit mask ``[1, H, W]`` (1 = edit); benchmark files are white = keep."""
    if sample.mask is None:
        raise BenchmarkError(f"{sample.source}: no mask file next to it ({sample.source.stem}{MASK_SUFFIX}.png)")
    return load_edit_mask(sample.mask, polarity="white_is_keep")
