"""Reading the rows of an editing dataset's table: JSONL, CSV, parquet, or a Hugging Face
``datasets`` ``save_to_disk`` folder (Arrow shards, read with pyarrow: no ``datasets`` needed).

Every reader yields ``(row_number, {column: value})``; a file that cannot be read raises
:class:`DataImportError` naming it (and the row, for JSONL).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from cocoedit.core.errors import CocoEditError
from cocoedit.core.optional import require

SourceFormat = Literal["jsonl", "csv", "parquet", "hf", "cocoedit40k"]
FORMATS: tuple[str, ...] = ("jsonl", "csv", "parquet", "hf", "cocoedit40k")


class DataImportError(CocoEditError):
    """A source cannot be imported; the message names the file, row or column."""


def detect_format(path: Path) -> SourceFormat:
    """The source format from the path: a folder with ``state.json``/``dataset_dict.json`` is
    ``hf``, a folder with ``metadata.jsonl`` is ``cocoedit40k``; files go by suffix."""
    if path.is_dir():
        if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
            return "hf"
        if (path / "metadata.jsonl").is_file():
            return "cocoedit40k"
        raise DataImportError(
            f"{path}: folder is neither a saved Hugging Face dataset (state.json) "
            "nor a CoCoEdit-40K release (metadata.jsonl); pass --format"
        )
    suffix = path.suffix.lower()
    by_suffix = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet", ".arrow": "hf"}
    if suffix not in by_suffix:
        raise DataImportError(f"{path}: cannot tell the format from the suffix {suffix!r}; pass --format")
    return by_suffix[suffix]  # type: ignore[return-value]


def _not_utf8(path: Path, e: UnicodeDecodeError) -> DataImportError:
    return DataImportError(
        f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start} of a "
        "read block); save the table as UTF-8"
    )


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        yield from _jsonl_lines(path)
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from None


def _jsonl_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataImportError(f"{path}:{n}: bad JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise DataImportError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
            yield n, row


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:  # -sig: spreadsheets write a BOM
            # Row numbers count the header as line 1, as a spreadsheet would show them.
            for n, row in enumerate(csv.DictReader(f), start=2):
                yield n, {k: (v if v != "" else None) for k, v in row.items()}
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from None


def _arrow_table_rows(batches, start: int = 1) -> Iterator[tuple[int, dict[str, Any]]]:
    n = start
    for batch in batches:
        for row in batch.to_pylist():
            yield n, row
            n += 1


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid/OSError subclasses for bad files
        raise DataImportError(f"{path}: not a readable parquet file ({e})") from None
    yield from _arrow_table_rows(pf.iter_batches(batch_size=256))


def hf_data_files(path: Path, split: str | None) -> list[Path]:
    """The Arrow shard files of a ``save_to_disk`` folder (a ``Dataset``, or one split of a
    ``DatasetDict``), in order."""
    if (path / "dataset_dict.json").is_file():
        splits = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
        if split is None:
            if len(splits) != 1:
                raise DataImportError(f"{path}: a DatasetDict with splits {splits}; pass --split")
            split = splits[0]
        if split not in splits:
            raise DataImportError(f"{path}: no split {split!r} (splits: {', '.join(splits)})")
        path = path / split
    state_file = path / "state.json"
    if state_file.is_file():
        state = json.loads(state_file.read_text(encoding="utf-8"))
        names = [f["filename"] for f in state.get("_data_files", [])]
        if not names:
            raise DataImportError(f"{state_file}: lists no data files (_data_files)")
    else:
        names = sorted(p.name for p in path.glob("*.arrow"))
        if not names:
            raise DataImportError(f"{path}: no state.json and no .arrow files")
    files = [path / name for name in names]
    for f in files:
        if not f.is_file():
            raise DataImportError(f"{f}: data file listed in state.json is missing")
    return files


def _hf_rows(path: Path, split: str | None) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow as pa

    files = [path] if path.is_file() else hf_data_files(path, split)
    start = 1
    for f in files:
        with pa.memory_map(str(f)) as source:
            try:
                reader = pa.ipc.open_stream(source)  # what datasets' ArrowWriter writes
            except pa.ArrowInvalid:
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            else:
                batches = iter(reader)
            for n, row in _arrow_table_rows(batches, start):
                yield n, row
                start = n + 1


def check_reader_installed(fmt: SourceFormat) -> None:
    """Refuse a format whose reader's optional package (pyarrow: parquet, hf) is not installed."""
    if fmt in ("parquet", "hf"):
        require("pyarrow", f"importing {fmt} tables (cocoedit data import)")


def iter_source_rows(path: Path, fmt: SourceFormat, split: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row_number, row)`` for every row of a table source (not ``cocoedit40k``)."""
    if not path.exists():
        raise DataImportError(f"{path}: not found")
    readers = {"jsonl": _jsonl_rows, "csv": _csv_rows, "parquet": _parquet_rows}
    check_reader_installed(fmt)
    if fmt == "hf":
        return _hf_rows(path, split)
    if fmt not in readers:
        raise DataImportError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return readers[fmt](path)
