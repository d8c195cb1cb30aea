"""The edit-sample record and its JSONL manifests.

A manifest is a JSON-lines file; each line is one :class:`EditSample` with file paths written
**relative to the manifest's folder** (the dataset root)::

    {"id": "cat_0001", "source": "images/cat_0001.png", "instruction": "make the cat black",
     "mask": "masks/cat_0001.png", "mask_polarity": "white_is_edit",
     "edit_type": "recolor", "target": null, "metadata": {"split": "train"}}

``mask_polarity`` says what white means in *that mask file* (default ``"white_is_edit"``); in
memory every mask is converted to the internal convention (1 = edit) when it is loaded. This lets a
manifest point at the CoCoEdit-40K mask files (white = keep) without rewriting them.

Paths whose real location is outside the dataset root (``../x.png``, absolute paths elsewhere, a
symlink inside the root pointing out of it) are refused unless ``allow_outside_root=True``: a
manifest should not read arbitrary files by accident (:func:`cocoedit.core.paths.resolve_inside`).
Ids must be usable in file names' place (:func:`cocoedit.core.paths.unsafe_id_reason`: no ``..``,
not absolute, no control characters).

Files are UTF-8 (a byte-order mark is accepted) with one record per ``\n``-ended line; the
Unicode line separators U+2028, U+2029 and U+0085 may appear inside strings and are written
escaped.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cocoedit.core.errors import CocoEditError
from cocoedit.core.images import save_edit_mask, save_pil_atomic
from cocoedit.core.masks import MaskPolarity
from cocoedit.core.paths import resolve_inside, safe_file_name, unsafe_id_reason


class ManifestError(CocoEditError):
    """A manifest line cannot be turned into a sample; the message names file and line."""


#: The longest instruction a sample may have, in characters. FLUX's T5 reads at most 512 tokens
#: (about 2,000 characters of English) and the benchmarks' instructions are under 300; a longer one
#: is a wrong column or a pasted document, and the text encoder would cut it anyway.
MAX_INSTRUCTION_CHARS = 2000


def instruction_too_long(text: str) -> str | None:
    """Why ``text`` is too long to be an instruction, or None."""
    if len(text) <= MAX_INSTRUCTION_CHARS:
        return None
    return f"instruction is {len(text):,} characters long, over the limit of {MAX_INSTRUCTION_CHARS:,}"


class CandidateSample(BaseModel):
    """An editing example before curation: a source image, an instruction and, when known, the
    edit mask and the target.

    ``cocoedit data import`` writes these (a pair dataset has a source, a target and an
    instruction, and the mask is what ``cocoedit data build`` annotates). Same JSONL format and
    path rules as a manifest; ``cocoedit data validate`` and the trainer need every row to have
    a mask, so they read :class:`EditSample` rows, the output of ``data build``.
    In memory, ``source``, ``mask`` and ``target`` are absolute paths.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    source: Path
    instruction: str
    mask: Path | None = None
    mask_polarity: MaskPolarity = "white_is_edit"
    edit_type: str | None = None
    target: Path | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_safe(cls, v: str) -> str:
        reason = unsafe_id_reason(v)
        if reason is not None:
            raise ValueError(reason)
        return v

    @field_validator("instruction")
    @classmethod
    def _instruction_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("instruction is empty")
        too_long = instruction_too_long(v)
        if too_long is not None:
            raise ValueError(too_long)
        return v


class EditSample(CandidateSample):
    """One editing example: a :class:`CandidateSample` whose edit mask is required."""

    mask: Path


PATH_FIELDS = ("source", "mask", "target")

#: ``"manifest"``: our JSONL format (above). ``"cocoedit40k"``: the CoCoEdit-40K release's
#: ``metadata.jsonl`` with fields ``prompt``, ``image``, ``mask`` (white = keep).
ManifestLayout = Literal["manifest", "cocoedit40k"]
LAYOUTS: tuple[str, ...] = ("manifest", "cocoedit40k")


def cocoedit40k_record(record: dict[str, Any]) -> dict[str, Any]:
    """Map one CoCoEdit-40K ``metadata.jsonl`` object onto our record fields.

    The id is the image path without its suffix (unique within the release); every other field of
    the line is kept in ``metadata``. Masks in the release are white = keep (non-edit region).
    """
    missing = [k for k in ("prompt", "image", "mask") if k not in record]
    if missing:
        raise ValueError(f"CoCoEdit-40K record lacks field(s) {', '.join(map(repr, missing))}")
    image = record["image"]
    if not isinstance(image, str) or not image:
        raise ValueError(f"field 'image' must be a non-empty path string, got {image!r}")
    return {
        "id": str(record.get("id") or Path(image).with_suffix("").as_posix()),
        "source": image,
        "instruction": record["prompt"],
        "mask": record["mask"],
        "mask_polarity": "white_is_keep",
        "metadata": {k: v for k, v in record.items() if k not in ("prompt", "image", "mask", "id")},
    }


@dataclass(frozen=True)
class ManifestRow:
    """One line of a manifest: the sample, or why the line could not become one."""

    line: int
    sample: BaseModel | None  # EditSample, or the model iter_manifest was given
    error: str | None
    raw: dict[str, Any] | None


def _parse_record(
    record: Any, root: Path, allow_outside_root: bool, layout: ManifestLayout, model: type[BaseModel] = EditSample
) -> BaseModel:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    data = cocoedit40k_record(record) if layout == "cocoedit40k" else dict(record)
    for field in PATH_FIELDS:
        value = data.get(field)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise ValueError(f"field {field!r} must be a non-empty path string, got {value!r}")
        try:
            data[field] = resolve_inside(root, value, allow_outside_root)
        except ValueError as e:
            raise ValueError(f"field {field!r}: {e}") from None
    return model.model_validate(data)


def _format_validation_error(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"field {loc!r}: {err['msg']}")
    return "; ".join(parts)


def manifest_lines(text: str) -> list[str]:
    """The lines of a manifest's text: split at ``\n`` only (``str.splitlines`` would also split
    at U+2028, U+0085, ``\x1c`` ... inside a string), a ``\r`` before it dropped."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def count_rows(path: str | Path) -> int:
    """Non-empty lines of a manifest file (a progress total; rows are not parsed)."""
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    return sum(1 for line in manifest_lines(text) if line.strip())


def iter_manifest(
    path: str | Path,
    allow_outside_root: bool = False,
    layout: ManifestLayout = "manifest",
    model: type[BaseModel] = EditSample,
) -> Iterator[ManifestRow]:
    """Yield every non-blank line of a manifest as a :class:`ManifestRow`, errors included.

    Line numbers are 1-based. Use :func:`read_manifest` to get samples or a first error.
    ``model`` is the record type (:class:`CandidateSample` for rows that may lack a mask).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    path = Path(path)
    root = path.parent
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except UnicodeDecodeError as e:
        raise ManifestError(f"{path}: not UTF-8 text ({e})") from None
    for line_no, line in enumerate(manifest_lines(text), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            yield ManifestRow(line_no, None, f"bad JSON: {e.msg} at column {e.colno}", None)
            continue
        try:
            sample = _parse_record(record, root, allow_outside_root, layout, model)
        except ValidationError as e:
            yield ManifestRow(line_no, None, _format_validation_error(e), record if isinstance(record, dict) else None)
            continue
        except ValueError as e:
            yield ManifestRow(line_no, None, str(e), record if isinstance(record, dict) else None)
            continue
        yield ManifestRow(line_no, sample, None, record)


def read_manifest(
    path: str | Path,
    allow_outside_root: bool = False,
    layout: ManifestLayout = "manifest",
    model: type[BaseModel] = EditSample,
) -> list[EditSample]:
    """All samples of a manifest; raises :class:`ManifestError` naming file and line on the first
    bad line or duplicated id, or naming the file when it has no rows. Files are not opened: use
    ``cocoedit data validate`` for that. ``model=CandidateSample`` reads an import manifest, whose
    rows may lack a mask."""
    samples: list[EditSample] = []
    seen: dict[str, int] = {}
    for row in iter_manifest(path, allow_outside_root, layout, model):
        if row.error is not None:
            raise ManifestError(f"{path}:{row.line}: {row.error}")
        assert row.sample is not None
        if row.sample.id in seen:
            raise ManifestError(
                f"{path}:{row.line}: duplicate id {row.sample.id!r} (first on line {seen[row.sample.id]})"
            )
        seen[row.sample.id] = row.line
        samples.append(row.sample)
    if not samples:
        raise ManifestError(f"{path}: manifest has no rows")
    return samples


def read_cocoedit40k(path: str | Path) -> list[EditSample]:
    """Samples of a CoCoEdit-40K release: its folder or its ``metadata.jsonl``."""
    path = Path(path)
    if path.is_dir():
        path = path / "metadata.jsonl"
    return read_manifest(path, layout="cocoedit40k")


def detect_layout(path: str | Path) -> ManifestLayout:
    """``"cocoedit40k"`` if the first parsable line has ``prompt`` and ``image`` but no ``source``."""
    if not Path(path).is_file():
        raise ManifestError(f"{path}: manifest not found")
    with open(path, encoding="utf-8-sig", errors="replace", newline="\n") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                is_40k = "prompt" in record and "image" in record and "source" not in record
                return "cocoedit40k" if is_40k else "manifest"
    return "manifest"


def sample_to_record(
    sample: EditSample | CandidateSample, root: str | Path, allow_outside_root: bool = False
) -> dict[str, Any]:
    """The JSON object of one sample, with paths made relative to ``root``."""
    root = Path(os.path.abspath(root))
    record = sample.model_dump(mode="json")
    for field in PATH_FIELDS:
        value = getattr(sample, field)
        if value is None:
            continue
        absolute = Path(os.path.abspath(value))
        if not absolute.is_relative_to(root) and not allow_outside_root:
            raise ManifestError(
                f"sample {sample.id!r}: {field} {absolute} is outside the manifest folder {root} "
                "(pass allow_outside_root=True to write a '..' path)"
            )
        record[field] = Path(os.path.relpath(absolute, root)).as_posix()
    return record


# JSON leaves these raw with ensure_ascii=False; tools that split lines the Unicode way (and
# older versions of this module) would cut a row in two at them.
_LINE_SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"}


def _escape_line_separators(line: str) -> str:
    for char, escaped in _LINE_SEPARATORS.items():
        line = line.replace(char, escaped)
    return line


def write_manifest(
    samples: Iterable[EditSample | CandidateSample], path: str | Path, allow_outside_root: bool = False
) -> Path:
    """Write samples as a JSONL manifest (atomically: a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    lines = []
    for sample in samples:
        if sample.id in seen:
            raise ManifestError(f"duplicate id {sample.id!r} while writing {path}")
        seen.add(sample.id)
        record = sample_to_record(sample, path.parent, allow_outside_root)
        lines.append(_escape_line_separators(json.dumps(record, ensure_ascii=False)))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_generated_sample(
    root: str | Path, name: str, source: np.ndarray, target: np.ndarray, edit_region: np.ndarray
) -> dict[str, Path]:
    """Write a generated pair as ``root/images/<file>``, ``root/targets/<file>`` and its edit mask
    ``root/masks/<file>`` (white = edit), ``<file>`` being ``safe_file_name(name, ".png")``.
    ``source``/``target`` are uint8 ``[H, W, 3]``, ``edit_region`` bool ``[H, W]``. Returns the
    three paths by folder name."""
    root = Path(root)
    paths = {k: root / k / safe_file_name(name, ".png") for k in ("images", "targets", "masks")}
    for key, array in (("images", source), ("targets", target)):
        save_pil_atomic(Image.fromarray(array), paths[key])
    save_edit_mask(torch.from_numpy(edit_region[None].astype(np.float32)), paths["masks"], "white_is_edit")
    return paths
