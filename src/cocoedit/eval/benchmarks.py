"""Mask-annotated GEdit-Bench and ImgEdit-Bench: where sources, masks and results live.

Benchmark layouts (the CoCoEdit release ``GEditBench_ImgEditBench_with_mask``):

* **GEdit**: ``<bench>/fullset/<task>/<lang>/<key>.png`` (source) and ``<key>_mask.png``, with an
  optional ``metafile_geditbench.json``. Results: ``<results>/fullset/<task>/<lang>/<key>.png``.
* **ImgEdit**: ``<bench>/singleturn/<category>/.../<id>.png`` and ``<id>_mask.png``, with an
  optional ``metafile_imgeditbench.json`` (ImgEdit's ``basic_edit.json`` with masks). With a
  metafile there is one sample per key: several keys may share a source image and its mask (the
  released file has 737 keys over 171 images), and each key names its source by its ``id`` path
  relative to ``singleturn/`` (nested folders included; the suffix may differ from the file's).
  A key whose source is not found is an error; source images no key names are reported in a
  warning. Without a metafile, one sample per source image, keyed by its file stem. Results: flat
  ``<results>/<key>.png``.

Sources and masks are read with the benchmark folder as ``root``
(:func:`load_bench_source`, :func:`open_bench_source`, :func:`load_bench_edit_mask`): a file whose
real path is outside it (a link out) is that sample's :class:`~cocoedit.core.images.ImageFileError`
and the other samples go on. ImgEdit metafile keys name result files, so a key with a separator,
``..`` or a control character is refused. Metafiles may start with a UTF-8 byte-order mark.

Benchmark masks are white = keep (non-edit region); :func:`load_bench_edit_mask` returns the
internal convention (1 = edit).

Metafiles are read tolerantly: a JSON object ``{key: record}`` or a list of records (keyed by
their ``key`` or ``id`` field, else their position); the instruction is taken from the first
present of ``instruction``, ``prompt``, ``caption``, ``edit_instruction``, ``text``; the edit type
from ``edit_type``, ``task_type``, ``type``. GEdit records are matched to files by key, by
``id``/``key`` fields, or by the stem of a path-like field (``id``, ``image``, ``ref_image_path``,
``input_image``, ``source``, ``image_path``); GEdit samples without a metafile entry keep
``instruction=None``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image

from cocoedit.core.errors import CocoEditError
from cocoedit.core.images import load_edit_mask, load_image, open_rgb_image
from cocoedit.core.paths import unsafe_id_reason

logger = logging.getLogger("cocoedit")

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
    where a results folder holds this sample's edited image. ``root`` is the benchmark folder:
    ``source`` and ``mask`` are read only if their real paths are inside it.
    """

    bench: BenchName
    key: str
    category: str
    source: Path
    mask: Path | None
    instruction: str | None
    result_relpath: str
    root: Path
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
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as e:
        raise BenchmarkError(f"{path}: not UTF-8 text ({e})") from None
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
    if bench == "gedit":
        samples = _load_gedit(bench_dir, _index_metafile(records), METAFILES["gedit"] if records else None)
    else:
        samples = _load_imgedit(bench_dir, records)
    if not samples:
        expected = "fullset/<task>/<lang>/<key>.png" if bench == "gedit" else "singleturn/<category>/<id>.png"
        raise BenchmarkError(f"{bench_dir}: no {bench} samples found (expected {expected})")
    keys: dict[str, BenchSample] = {}
    for s in samples:
        if s.key in keys:
            raise BenchmarkError(f"{bench_dir}: key {s.key!r} is used by both {keys[s.key].source} and {s.source}")
        keys[s.key] = s
    return sorted(samples, key=lambda s: (s.category, s.key))


INTERSECTION_FIELDS = ("Intersection_exist", "intersection")


def _load_gedit(bench_dir: Path, index: dict, metafile: str | None) -> list[BenchSample]:
    """One sample per source image. ``extra["intersection"]``: the metafile's flag for GEdit's
    intersection subset, or ``None`` for every sample when the flag is not in every record (no
    intersection table is then made; with a metafile, a warning says why)."""
    root = bench_dir / "fullset"
    if not root.is_dir():
        raise BenchmarkError(f"{bench_dir}: no 'fullset' folder (GEdit layout fullset/<task>/<lang>/)")
    samples, flags = [], []
    for task_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for lang_dir in sorted(p for p in task_dir.iterdir() if p.is_dir()):
            for stem, image in _image_files(lang_dir).items():
                rel = f"fullset/{task_dir.name}/{lang_dir.name}/{stem}.png"
                hit = _match(index, [f"{task_dir.name}/{lang_dir.name}/{stem}", stem], task_dir.name)
                rec = hit[1] if hit else {}
                flags.append(next((bool(rec[f]) for f in INTERSECTION_FIELDS if f in rec), None))
                samples.append(
                    BenchSample(
                        bench="gedit",
                        key=f"{task_dir.name}/{lang_dir.name}/{stem}",
                        category=task_dir.name,
                        source=image,
                        mask=_mask_for(image),
                        instruction=_first(rec, INSTRUCTION_FIELDS),
                        result_relpath=rel,
                        root=bench_dir,
                        language=lang_dir.name,
                    )
                )
    unflagged = sum(f is None for f in flags)
    if unflagged and metafile:
        logger.warning(
            "%s: %d of %d samples have no intersection flag (%s); no intersection table is made",
            bench_dir / metafile,
            unflagged,
            len(samples),
            " or ".join(INTERSECTION_FIELDS),
        )
    for sample, flag in zip(samples, flags, strict=True):
        sample.extra["intersection"] = None if unflagged else flag
    return samples


def _source_files(root: Path) -> dict[str, Path]:
    """Every source image under ``root`` (nested folders included, masks excluded), by its path
    relative to ``root`` without the suffix (``animal/000342021``)."""
    out: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith(MASK_SUFFIX):
            rel = p.relative_to(root).with_suffix("").as_posix()
            if rel in out:
                raise BenchmarkError(f"{root}: two source images are {rel!r} ({out[rel].name}, {p.name})")
            out[rel] = p
    return out


def _imgedit_source(rec: dict[str, Any], key: str, files: dict[str, Path], by_stem: dict[str, list[str]]) -> str | None:
    """The relative name (in :func:`_source_files`) of a metafile record's source image.

    The record's path-like field (``id`` in ImgEdit's ``basic_edit.json``: ``animal/000342021.jpg``)
    is a path relative to ``singleturn/``; its suffix may differ from the file's (the mask
    release re-encodes to PNG). A bare file name is accepted when exactly one file has that stem.
    """
    for name in PATH_LIKE_FIELDS:
        value = rec.get(name)
        if not isinstance(value, (str, int)) or not str(value).strip():
            continue
        rel = Path(str(value).strip().replace("\\", "/").removeprefix("./").removeprefix("singleturn/"))
        rel_name = rel.with_suffix("").as_posix() if rel.suffix.lower() in IMAGE_SUFFIXES else rel.as_posix()
        if rel_name in files:
            return rel_name
        if len(rel.parts) == 1 and len(by_stem.get(rel_name, [])) == 1:
            return by_stem[rel_name][0]
    if len(by_stem.get(key, [])) == 1:  # no path at all: a key named after its file
        return by_stem[key][0]
    return None


def _load_imgedit(bench_dir: Path, records: dict[str, dict[str, Any]]) -> list[BenchSample]:
    """With a metafile: one sample per key (ImgEdit's ``basic_edit.json`` has 737 keys over 171
    source images, so keys share a source and its mask). Without one: one sample per image, keyed
    by its file stem."""
    root = bench_dir / "singleturn"
    if not root.is_dir():
        raise BenchmarkError(f"{bench_dir}: no 'singleturn' folder (ImgEdit layout singleturn/<category>/)")
    files = _source_files(root)
    by_stem: dict[str, list[str]] = {}
    for rel in files:
        by_stem.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
    if not records:
        return [_imgedit_sample(bench_dir, rel.rsplit("/", 1)[-1], rel, files[rel], {}) for rel in files]
    samples, missing, used = [], [], set()
    for key, rec in records.items():
        if "/" in key or "\\" in key or unsafe_id_reason(key) or key in (".", ".."):
            raise BenchmarkError(
                f"{bench_dir / METAFILES['imgedit']}: key {key!r} cannot name a result file "
                f"(results are <results>/<key>.png: no separators, '..' or control characters)"
            )
        rel = _imgedit_source(rec, key, files, by_stem)
        if rel is None:
            missing.append(f"{key} ({_first(rec, PATH_LIKE_FIELDS) or 'no id'})")
            continue
        used.add(rel)
        samples.append(_imgedit_sample(bench_dir, key, rel, files[rel], rec))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise BenchmarkError(
            f"{bench_dir / METAFILES['imgedit']}: {len(missing)} of {len(records)} keys name a source image "
            f"not found under {root}: {shown}"
        )
    unmatched = [rel for rel in files if rel not in used]
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
        logger.warning(
            "%s: %d source images match no key of %s and are not evaluated: %s",
            root,
            len(unmatched),
            METAFILES["imgedit"],
            shown,
        )
    return samples


def _imgedit_sample(bench_dir: Path, key: str, rel: str, source: Path, rec: dict[str, Any]) -> BenchSample:
    folder = rel.split("/", 1)[0] if "/" in rel else ""
    return BenchSample(
        bench="imgedit",
        key=key,
        category=_first(rec, TYPE_FIELDS) or folder or "all",
        source=source,
        mask=_mask_for(source),
        instruction=_first(rec, INSTRUCTION_FIELDS),
        result_relpath=f"{key}.png",
        root=bench_dir,
        extra={"folder": folder, "source": rel},
    )


def result_path(results_dir: str | Path, sample: BenchSample) -> Path:
    """Where ``results_dir`` holds the edited image of ``sample``.

    A ``.png`` is expected; if it is absent an image with the same stem and another common suffix
    (``.jpg``, ``.jpeg``, ``.webp``) is accepted, since several samplers write JPEG. Open it with
    ``root=results_dir`` (:func:`cocoedit.core.images.open_image`), so a link out of the results
    folder is that sample's error.
    """
    expected = Path(results_dir) / sample.result_relpath
    if expected.is_file():
        return expected
    for suffix in IMAGE_SUFFIXES:
        alt = expected.with_suffix(suffix)
        if alt.is_file():
            return alt
    return expected


def open_bench_source(sample: BenchSample) -> Image.Image:
    """The sample's source image as RGB PIL, read with the benchmark folder as ``root``."""
    return open_rgb_image(sample.source, root=sample.root)


def load_bench_source(sample: BenchSample) -> torch.Tensor:
    """The sample's source image ``[3, H, W]`` in [0, 1], read with the benchmark folder as ``root``."""
    return load_image(sample.source, root=sample.root)


def load_bench_edit_mask(sample: BenchSample) -> torch.Tensor:
    """The sample's edit mask ``[1, H, W]`` (1 = edit); benchmark files are white = keep. Read with
    the benchmark folder as ``root``."""
    if sample.mask is None:
        raise BenchmarkError(f"{sample.source}: no mask file next to it ({sample.source.stem}{MASK_SUFFIX}.png)")
    return load_edit_mask(sample.mask, polarity="white_is_keep", root=sample.root)
