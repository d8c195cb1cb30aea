"""Importers: JSONL, CSV, parquet, saved `datasets` folders and CoCoEdit-40K into a candidate manifest."""

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from cocoedit.core.paths import safe_file_name, safe_stem
from cocoedit.data.importers import ColumnMapping, import_pairs
from cocoedit.data.manifest import CandidateSample, read_manifest
from cocoedit.data.tables import DataImportError, detect_format

COLUMNS = ColumnMapping(source="src", target="tgt", instruction="prompt", id="uid", edit_type="kind")


def _check_imported(manifest, raw_root, n):
    samples = read_manifest(manifest, model=CandidateSample)
    assert [s.id for s in samples] == [f"pair-{i:03d}" for i in range(n)]
    for i, s in enumerate(samples):
        assert s.source.parent == manifest.parent / "images" and s.target.parent == manifest.parent / "targets"
        # the copies hold the very same bytes as the originals
        assert s.source.read_bytes() == (raw_root / "raw" / f"src_{i}.png").read_bytes()
        assert s.target.read_bytes() == (raw_root / "raw" / f"tgt_{i}.png").read_bytes()
        assert s.mask is None
        assert s.instruction == f"change the object number {i} to something else"
    assert samples[1].edit_type == "color"
    assert samples[2].metadata["columns"] == {"score": 0.52}
    return samples


def test_jsonl_import_copies_images_and_maps_columns(pair_jsonl, tmp_path):
    result = import_pairs(pair_jsonl, tmp_path / "out", columns=COLUMNS)
    assert result.imported == 8 and not result.skipped
    _check_imported(result.manifest, tmp_path, 8)
    # paths in the file are relative to the manifest's folder
    first = json.loads(result.manifest.read_text().splitlines()[0])
    assert first["source"] == "images/pair-000.png" and first["target"] == "targets/pair-000.png"


def test_csv_import(pair_jsonl, tmp_path):
    rows = [json.loads(line) for line in pair_jsonl.read_text().splitlines()]
    with open(tmp_path / "pairs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = import_pairs(tmp_path / "pairs.csv", tmp_path / "out", columns=COLUMNS)
    samples = read_manifest(result.manifest, model=CandidateSample)
    assert len(samples) == 8 and samples[3].edit_type == "remove"
    assert samples[2].metadata["columns"] == {"score": "0.52"}  # CSV cells are text


def _image_bytes(path):
    return path.read_bytes()


def test_parquet_with_image_bytes(pair_jsonl, tmp_path):
    rows = [json.loads(line) for line in pair_jsonl.read_text().splitlines()]
    table = pa.table(
        {
            "uid": [r["uid"] for r in rows],
            # datasets' Image feature layout: a struct of bytes and an (informational) path
            "src": [{"bytes": _image_bytes(tmp_path / r["src"]), "path": None} for r in rows],
            "tgt": [_image_bytes(tmp_path / r["tgt"]) for r in rows],
            # several phrasings per pair, the first one empty
            "prompt": [["", r["prompt"], "another phrasing"] for r in rows],
            "kind": [r["kind"] for r in rows],
            "score": [r["score"] for r in rows],
        }
    )
    pq.write_table(table, tmp_path / "pairs.parquet", row_group_size=3)
    result = import_pairs(tmp_path / "pairs.parquet", tmp_path / "out", columns=COLUMNS)
    samples = _check_imported(result.manifest, tmp_path, 8)
    assert samples[0].metadata["instructions"] == ["", rows[0]["prompt"], "another phrasing"]


def _save_to_disk_layout(folder, table, shards=2):
    """The folder `datasets.Dataset.save_to_disk` writes: Arrow stream shards listed in state.json."""
    folder.mkdir(parents=True)
    names = []
    per = -(-table.num_rows // shards)
    for k in range(shards):
        name = f"data-{k:05d}-of-{shards:05d}.arrow"
        with pa.OSFile(str(folder / name), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table.slice(k * per, per))
        names.append(name)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": n} for n in names], "_split": "train"}))
    (folder / "dataset_info.json").write_text("{}")


def test_hf_save_to_disk_folder_and_dataset_dict(pair_jsonl, tmp_path):
    rows = [json.loads(line) for line in pair_jsonl.read_text().splitlines()]
    table = pa.table(
        {
            "source_image": [{"bytes": _image_bytes(tmp_path / r["src"]), "path": r["src"]} for r in rows],
            "edited_image": [{"bytes": _image_bytes(tmp_path / r["tgt"]), "path": r["tgt"]} for r in rows],
            "edit_prompt": [r["prompt"] for r in rows],
        }
    )
    root = tmp_path / "hf"
    _save_to_disk_layout(root / "train", table)
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train"]}))
    assert detect_format(root) == "hf"
    columns = ColumnMapping(source="source_image", target="edited_image", instruction="edit_prompt")
    result = import_pairs(root, tmp_path / "out", columns=columns)
    samples = read_manifest(result.manifest, model=CandidateSample)
    assert len(samples) == 8
    # no id column: ids from the row number, numbered across the shards
    assert samples[0].id == "hf-0000001" and samples[7].id == "hf-0000008"
    assert samples[7].source.read_bytes() == (tmp_path / "raw" / "src_7.png").read_bytes()
    with pytest.raises(DataImportError, match="no split 'test'"):
        import_pairs(root, tmp_path / "out2", columns=columns, split="test")


def test_bad_rows_are_skipped_with_reason_or_raise_when_strict(pair_jsonl, tmp_path):
    rows = [json.loads(line) for line in pair_jsonl.read_text().splitlines()]
    rows[2]["src"] = "raw/nowhere.png"
    rows[4]["prompt"] = "  "
    (tmp_path / "raw" / "junk.png").write_bytes(b"not an image")
    rows[5]["tgt"] = {"bytes": None, "path": "raw/junk.png"}  # a path to a file that is no image
    rows[6]["tgt"] = 17
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = import_pairs(tmp_path / "bad.jsonl", tmp_path / "out", columns=COLUMNS)
    assert result.imported == 4
    assert result.skipped == {"column 'src'": 1, "column 'prompt'": 1, "column 'tgt'": 2}
    logged = [json.loads(line) for line in (tmp_path / "out" / "import_skipped.jsonl").read_text().splitlines()]
    assert [entry["row"] for entry in logged] == [3, 5, 6, 7]
    assert "junk.png: not a readable image" in logged[2]["error"]
    assert "nowhere.png not found" in logged[0]["error"]
    with pytest.raises(DataImportError, match=r"bad.jsonl: row 3: column 'src': file .*nowhere.png not found"):
        import_pairs(tmp_path / "bad.jsonl", tmp_path / "out2", columns=COLUMNS, strict=True)


def test_missing_column_is_named_with_the_available_ones(pair_jsonl, tmp_path):
    with pytest.raises(DataImportError, match=r"no column 'image' \(mapped to source\); columns: 'uid', 'src'"):
        import_pairs(pair_jsonl, tmp_path / "out", columns=ColumnMapping(source="image"))


def test_cocoedit40k_release(tmp_path):
    rel = tmp_path / "CoCoEdit-40K"
    (rel / "images" / "a").mkdir(parents=True)
    (rel / "masks").mkdir()
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(rel / "images" / "a" / "0001.jpg")
    keep = np.full((8, 8), 255, np.uint8)
    keep[2:5, 2:6] = 0  # white = keep in the release
    Image.fromarray(keep).save(rel / "masks" / "0001.png")
    (rel / "metadata.jsonl").write_text(
        json.dumps(
            {"prompt": "make the cup red", "image": "images/a/0001.jpg", "mask": "masks/0001.png", "task": "color"}
        )
        + "\n"
    )
    assert detect_format(rel) == "cocoedit40k"
    result = import_pairs(rel, tmp_path / "out")
    [s] = read_manifest(result.manifest, model=CandidateSample)
    assert s.id == "images/a/0001" and s.mask_polarity == "white_is_keep"
    assert s.source.name == safe_file_name("images/a/0001", ".jpg")
    assert s.mask.read_bytes() == (rel / "masks" / "0001.png").read_bytes()
    assert s.metadata["task"] == "color"


def test_link_mode_hard_links_instead_of_copying(pair_jsonl, tmp_path):
    result = import_pairs(pair_jsonl, tmp_path / "out", columns=COLUMNS, link=True)
    [first, *_] = read_manifest(result.manifest, model=CandidateSample)
    assert not first.source.is_symlink() and first.source.samefile(tmp_path / "raw" / "src_0.png")


def test_safe_stem_is_safe_and_collision_free():
    assert safe_stem("pair-001") == "pair-001"
    assert safe_stem("a/b") != safe_stem("a_b")
    assert "/" not in safe_stem("images/a/0001")
