"""Importers: editing datasets -> an import manifest (``cocoedit data import``).

An import manifest is our JSONL manifest of :class:`~cocoedit.data.manifest.CandidateSample`
rows (the mask may be missing: ``cocoedit data build`` annotates it). The importer copies (or
hard-links, ``link=True``) every image into the output folder, so the folder is self-contained and
its paths are relative, like any manifest:

    OUT/manifest.jsonl   OUT/images/<name>   OUT/targets/<name>   OUT/masks/<name>
    OUT/import_skipped.jsonl   (one line per source row that could not be imported, with the reason)

``<name>`` is :func:`cocoedit.core.paths.safe_file_name` of the id with the image's suffix appended
(``img.000`` -> ``img.000.png``). ``link=True`` makes hard links, not symlinks: a symlink would
point out of the dataset folder, which every reader refuses; a file on another file system is
copied. Files are written to a staging folder inside ``OUT`` and moved into place at the end, after
checking that none of them would replace an input file (``--out`` set to the table's own folder):
that is refused, naming the file, and no input changes.

Sources (``fmt``):

* ``jsonl``, ``csv``, ``parquet``: one row per (source, target, instruction) pair;
* ``hf``: a Hugging Face ``datasets`` folder written by ``save_to_disk`` (Arrow stream shards
  listed in ``state.json``; a ``DatasetDict`` folder takes ``split``), read with pyarrow;
* ``cocoedit40k``: the CoCoEdit-40K release (``metadata.jsonl`` with ``prompt``, ``image``,
  ``mask``; masks white = keep, kept as they are).

An image cell may be a path (relative to the table's folder, or absolute), raw bytes, or a
``{"bytes": ..., "path": ...}`` struct (how ``datasets`` stores its ``Image`` feature). Bytes are
written as they are, never re-encoded. An instruction cell may be a list of phrasings: the first
non-empty one is used and the list is kept in ``metadata["instructions"]``. Unmapped columns that
are JSON values are carried along in ``metadata["columns"]``.

Every image cell must be an image that :func:`cocoedit.core.images.open_image` reads (decodes
completely, within the pixel limit). A row that cannot be imported (a missing column value, a
missing file, a file or bytes that are not a readable image, an unsafe or duplicate id, an id whose
file name another id has) is skipped and written to ``import_skipped.jsonl`` with its row number,
column and reason, and the other rows go on; with ``strict=True`` the first one raises
:class:`DataImportError` instead.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict

from cocoedit.core.images import ImageFileError, open_image
from cocoedit.core.paths import FileNames, UnsafeNameError, link_or_copy, unsafe_id_reason, write_text_atomic
from cocoedit.data.manifest import (
    CandidateSample,
    ManifestError,
    instruction_too_long,
    read_cocoedit40k,
    write_manifest,
)
from cocoedit.data.tables import DataImportError, SourceFormat, check_reader_installed, detect_format, iter_source_rows

MANIFEST_NAME = "manifest.jsonl"
SKIPPED_NAME = "import_skipped.jsonl"


class ColumnMapping(BaseModel):
    """Which source columns hold what. ``id``/``edit_type``/``mask`` are optional: ``None`` means
    "use the column of that name if there is one" (ids are then made from the row number)."""

    model_config = ConfigDict(extra="forbid")

    source: str = "source"
    target: str | None = "target"
    instruction: str = "instruction"
    id: str | None = None
    edit_type: str | None = None
    mask: str | None = None


# ---- image cells -------------------------------------------------------------------------------


class _RowProblem(Exception):
    """One row cannot be imported (skipped and logged)."""


_FOLDERS = ("images", "targets", "masks")


class _Staging:
    """Where an import writes: files go to ``OUT/.import-staging/<folder>/<name>`` and are moved
    to ``OUT/<folder>/<name>`` by :meth:`publish`, which first refuses to replace any input file."""

    def __init__(self, out: Path, link: bool) -> None:
        self.out, self.link = out, link
        self.dir = out / ".import-staging"
        shutil.rmtree(self.dir, ignore_errors=True)  # what a crashed import left
        self.names = {folder: FileNames(out / folder) for folder in _FOLDERS}
        self.files: list[tuple[Path, Path]] = []  # (staged, final)
        self.inputs: dict[str, Path] = {}  # every name an input file is reachable by -> the input

    def add_input(self, path: Path) -> None:
        self.inputs[_entry(path)] = path
        self.inputs[os.path.realpath(path)] = path

    def _paths(self, sample_id: str, folder: str, suffix: str) -> tuple[Path, Path]:
        try:
            final = self.names[folder].claim(sample_id, suffix)
        except UnsafeNameError as e:
            raise _RowProblem(f"id: {e}") from None
        staged = self.dir / folder / final.name
        staged.parent.mkdir(parents=True, exist_ok=True)
        return staged, final

    def place_file(self, src: Path, sample_id: str, folder: str, where: str) -> Path:
        """Check ``src`` is a readable image, then copy or hard-link it; returns its final path."""
        try:
            open_image(src)
        except ImageFileError as e:
            raise _RowProblem(f"{where}: {e}") from None
        self.add_input(src)
        staged, final = self._paths(sample_id, folder, src.suffix.lower() or ".img")
        staged.unlink(missing_ok=True)
        if self.link:
            link_or_copy(src, staged)
        else:
            shutil.copyfile(src, staged)
        self.files.append((staged, final))
        return final

    def write_bytes(self, data: bytes, sample_id: str, folder: str, where: str) -> Path:
        """Write image bytes as they are (suffix from their format), checked readable like a file."""
        staged, final = self._paths(sample_id, folder, _image_suffix(data, where))
        staged.write_bytes(data)
        try:
            open_image(staged)
        except ImageFileError as e:
            staged.unlink()
            raise _RowProblem(f"{where}: bytes are not a readable image ({str(e).split(': ', 1)[-1]})") from None
        self.files.append((staged, final))
        return final

    def check_not_input(self, final: Path) -> None:
        hit = self.inputs.get(_entry(final))
        if hit is not None:
            raise DataImportError(
                f"writing {final} would overwrite the input file {hit}; choose an --out folder that holds no input"
            )

    def publish(self, extra_outputs: tuple[Path, ...]) -> None:
        """Move every staged file into place; refuses (writing nothing) if one would replace an
        input. ``extra_outputs`` are files written afterwards (the manifest), checked too."""
        for final in [f for _, f in self.files] + list(extra_outputs):
            self.check_not_input(final)
        for staged, final in self.files:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)  # a crash never leaves a half-copied file under the final name
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _entry(path: Path) -> str:
    """The directory entry ``path`` names, its folder's links resolved but not its own: replacing
    it replaces exactly this entry."""
    return os.path.join(os.path.realpath(path.parent), path.name)


def _image_suffix(data: bytes, where: str) -> str:
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = (im.format or "").lower()
    except (UnidentifiedImageError, OSError) as e:
        raise _RowProblem(f"{where}: bytes are not an image ({e})") from None
    return {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, f".{fmt}" if fmt else ".img")


def _store_image(value: Any, column: str, table_dir: Path, sample_id: str, folder: str, staging: _Staging) -> Path:
    """Put one image cell into the output folder; returns its final path."""
    where = f"column {column!r}"
    if isinstance(value, dict):  # datasets' Image feature: {"bytes": ..., "path": ...}
        if value.get("bytes"):
            return staging.write_bytes(value["bytes"], sample_id, folder, where)
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return staging.write_bytes(bytes(value), sample_id, folder, where)
    if isinstance(value, str) and value.strip():
        src = Path(value) if os.path.isabs(value) else table_dir / value
        if not src.is_file():
            raise _RowProblem(f"{where}: file {src} not found")
        return staging.place_file(src, sample_id, folder, where)
    raise _RowProblem(f"{where}: expected an image path, bytes or {{bytes, path}}, got {type(value).__name__}")


def _is_nan(value: Any) -> bool:
    """A float NaN: what a missing cell of a numeric column reads as (parquet, JSON ``NaN``)."""
    return isinstance(value, float) and math.isnan(value)


def _json_value(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


# ---- the import --------------------------------------------------------------------------------


@dataclass
class ImportResult:
    manifest: Path
    imported: int = 0
    skipped: Counter = field(default_factory=Counter)
    skipped_rows: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason), as in SKIPPED_NAME


def _check_columns(columns: ColumnMapping, first: dict[str, Any], path: Path, row: int) -> ColumnMapping:
    """Resolve the optional columns against the first row; a named column that is absent is an error."""
    resolved = columns.model_copy()
    for name in ("id", "edit_type"):
        if getattr(columns, name) is None and name in first:
            setattr(resolved, name, name)
    for key, col in resolved.model_dump().items():
        if col is not None and col not in first:
            raise DataImportError(
                f"{path}: row {row} has no column {col!r} (mapped to {key}); columns: {', '.join(map(repr, first))}"
            )
    return resolved


def import_pairs(
    path: str | Path,
    out: str | Path,
    fmt: SourceFormat | None = None,
    columns: ColumnMapping | None = None,
    split: str | None = None,
    link: bool = False,
    strict: bool = False,
    limit: int | None = None,
    progress=None,
) -> ImportResult:
    """Import a table of (source, target, instruction) rows into ``out/manifest.jsonl``.

    ``fmt`` defaults to :func:`detect_format`. ``limit`` stops after that many imported rows.
    ``progress(n)`` is called once per source row.
    """
    path, out = Path(path), Path(out)
    fmt = fmt or detect_format(path)
    if fmt == "cocoedit40k":
        return import_cocoedit40k(path, out, link=link, limit=limit, progress=progress)
    check_reader_installed(fmt)
    columns = columns or ColumnMapping()
    table_dir = path if path.is_dir() else path.parent
    out.mkdir(parents=True, exist_ok=True)
    result = ImportResult(manifest=out / MANIFEST_NAME)
    staging = _Staging(out, link)
    for table_file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
        staging.add_input(table_file)
    for output in (result.manifest, out / SKIPPED_NAME):
        staging.check_not_input(output)
    samples: list[CandidateSample] = []
    skipped_lines: list[str] = []
    ids: dict[str, int] = {}
    resolved: ColumnMapping | None = None
    try:
        for row_no, row in iter_source_rows(path, fmt, split):
            if progress is not None:
                progress(1)
            if resolved is None:
                resolved = _check_columns(columns, row, path, row_no)
            try:
                sample = _import_row(row, row_no, resolved, path, table_dir, staging, ids)
            except _RowProblem as e:
                if strict:
                    raise DataImportError(f"{path}: row {row_no}: {e}") from None
                reason = str(e).split(":")[0]
                result.skipped[reason] += 1
                result.skipped_rows.append((row_no, str(e)))
                skipped_lines.append(json.dumps({"row": row_no, "reason": reason, "error": str(e)}) + "\n")
                continue
            samples.append(sample)
            if limit is not None and len(samples) >= limit:
                break
        if resolved is None:
            raise DataImportError(f"{path}: no rows")
        staging.publish((result.manifest,))
    finally:
        staging.discard()
    write_text_atomic(out / SKIPPED_NAME, "".join(skipped_lines))
    write_manifest(samples, result.manifest)
    result.imported = len(samples)
    return result


def _import_row(row, row_no, columns: ColumnMapping, path, table_dir, staging: _Staging, ids) -> CandidateSample:
    instruction = row.get(columns.instruction)
    alternatives = None
    if isinstance(instruction, list):  # several phrasings per pair: use the first, keep them all
        alternatives = instruction
        instruction = next((t for t in instruction if isinstance(t, str) and t.strip()), None)
    if not isinstance(instruction, str) or not instruction.strip():
        raise _RowProblem(f"column {columns.instruction!r}: instruction is missing or empty")
    too_long = instruction_too_long(instruction.strip())
    if too_long is not None:
        raise _RowProblem(f"column {columns.instruction!r}: {too_long}")
    raw_id = row.get(columns.id) if columns.id else None
    if _is_nan(raw_id):
        raise _RowProblem(f"column {columns.id!r}: the id is NaN (an empty cell of a numeric column?)")
    sample_id = str(raw_id) if raw_id not in (None, "") else f"{path.stem}-{row_no:07d}"
    unsafe = unsafe_id_reason(sample_id)
    if unsafe is not None:
        raise _RowProblem(f"column {columns.id!r}: {unsafe}")
    if sample_id in ids:
        raise _RowProblem(f"column {columns.id!r}: duplicate id {sample_id!r} (first on row {ids[sample_id]})")
    source = _store_image(row.get(columns.source), columns.source, table_dir, sample_id, "images", staging)
    target = None
    if columns.target is not None:
        target = _store_image(row.get(columns.target), columns.target, table_dir, sample_id, "targets", staging)
    mask = None
    if columns.mask is not None:
        mask = _store_image(row.get(columns.mask), columns.mask, table_dir, sample_id, "masks", staging)
    edit_type = row.get(columns.edit_type) if columns.edit_type else None
    edit_type = None if _is_nan(edit_type) else edit_type
    used = {c for c in columns.model_dump().values() if c}
    extra = {k: v for k, v in row.items() if k not in used and _json_value(v)}
    ids[sample_id] = row_no
    return CandidateSample(
        id=sample_id,
        source=source.absolute(),
        instruction=instruction.strip(),
        mask=mask.absolute() if mask else None,
        target=target.absolute() if target else None,
        edit_type=str(edit_type) if edit_type not in (None, "") else None,
        metadata={
            "import": {"file": str(path), "row": row_no},
            **({"columns": extra} if extra else {}),
            **({"instructions": alternatives} if alternatives is not None else {}),
        },
    )


def import_cocoedit40k(
    path: str | Path, out: str | Path, link: bool = False, limit: int | None = None, progress=None
) -> ImportResult:
    """Copy (or hard-link) a CoCoEdit-40K release into ``out`` as an import manifest (masks kept,
    white = keep). A bad row of the release is an error naming its line (the release is ours to
    trust, unlike a scraped table)."""
    path, out = Path(path), Path(out)
    try:
        samples = read_cocoedit40k(path)
    except ManifestError as e:
        raise DataImportError(str(e)) from None
    if limit is not None:
        samples = samples[:limit]
    out.mkdir(parents=True, exist_ok=True)
    result = ImportResult(manifest=out / MANIFEST_NAME)
    staging = _Staging(out, link)
    staging.add_input(path / "metadata.jsonl" if path.is_dir() else path)
    written = []
    try:
        for sample in samples:
            for p in (sample.source, sample.mask):
                if not p.is_file():
                    raise DataImportError(f"{path}: sample {sample.id!r}: file {p} not found (are the zips extracted?)")
            try:
                source = staging.place_file(sample.source, sample.id, "images", "image")
                mask = staging.place_file(sample.mask, sample.id, "masks", "mask")
            except _RowProblem as e:
                raise DataImportError(f"{path}: sample {sample.id!r}: {e}") from None
            written.append(
                CandidateSample(
                    id=sample.id,
                    source=source.absolute(),
                    instruction=sample.instruction,
                    mask=mask.absolute(),
                    mask_polarity=sample.mask_polarity,
                    edit_type=sample.edit_type or sample.metadata.get("edit_type"),
                    metadata={"import": {"file": str(path), "layout": "cocoedit40k"}, **sample.metadata},
                )
            )
            if progress is not None:
                progress(1)
        staging.publish((result.manifest, out / SKIPPED_NAME))
    finally:
        staging.discard()
    write_text_atomic(out / SKIPPED_NAME, "")
    result.imported = len(written)
    write_manifest(written, result.manifest)
    return result
