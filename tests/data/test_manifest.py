"""The edit-sample record, JSONL manifests and the CoCoEdit-40K reader."""

import json

import numpy as np
import pytest
from PIL import Image

from cocoedit.core.images import load_edit_mask
from cocoedit.data.manifest import (
    EditSample,
    ManifestError,
    detect_layout,
    read_cocoedit40k,
    read_manifest,
    write_manifest,
)


def make_files(root, name="a", size=(16, 24)):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), 128, np.uint8)).save(root / "images" / f"{name}.png")
    mask = np.zeros(size, np.uint8)
    mask[4:10, 6:14] = 255
    Image.fromarray(mask).save(root / "masks" / f"{name}.png")
    return root / "images" / f"{name}.png", root / "masks" / f"{name}.png"


def test_write_then_read_round_trips_with_relative_paths(tmp_path):
    src, mask = make_files(tmp_path / "ds")
    sample = EditSample(
        id="a",
        source=src,
        instruction="make it red",
        mask=mask,
        edit_type="recolor",
        metadata={"split": "train", "score": 4.5},
    )
    path = write_manifest([sample], tmp_path / "ds" / "manifest.jsonl")
    record = json.loads(path.read_text())
    assert record["source"] == "images/a.png" and record["mask"] == "masks/a.png"
    (loaded,) = read_manifest(path)
    assert loaded == sample
    # Moving the whole dataset folder keeps the manifest valid.
    moved = tmp_path / "moved"
    (tmp_path / "ds").rename(moved)
    assert read_manifest(moved / "manifest.jsonl")[0].source == moved / "images" / "a.png"


def test_paths_escaping_the_root_are_refused_unless_allowed(tmp_path):
    make_files(tmp_path / "outside")
    (tmp_path / "ds").mkdir()
    manifest = tmp_path / "ds" / "m.jsonl"
    manifest.write_text(
        json.dumps(
            {"id": "x", "source": "../outside/images/a.png", "instruction": "x", "mask": "../outside/masks/a.png"}
        )
        + "\n"
    )
    with pytest.raises(ManifestError, match=r"m.jsonl:1: field 'source'.*outside the dataset root"):
        read_manifest(manifest)
    assert read_manifest(manifest, allow_outside_root=True)[0].source == tmp_path / "outside" / "images" / "a.png"


def test_errors_name_file_line_and_field(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        '{"id": "a", "source": "a.png", "instruction": "x", "mask": "m.png"}\n'
        "\n"
        '{"id": "b", "source": "b.png", "mask": "m.png"}\n'
    )
    with pytest.raises(ManifestError, match=r"m.jsonl:3: field 'instruction': Field required"):
        read_manifest(manifest)
    manifest.write_text('{"id": "a", "source": "a.png", "instruction": "x", "mask": "m.png"}\n{"id": ')
    with pytest.raises(ManifestError, match=r"m.jsonl:2: bad JSON"):
        read_manifest(manifest)
    manifest.write_text('{"id": "a", "source": "a.png", "instruction": "x", "mask": "m.png"}\n' * 2)
    with pytest.raises(ManifestError, match=r"m.jsonl:2: duplicate id 'a' \(first on line 1\)"):
        read_manifest(manifest)
    manifest.write_text('{"id": "a", "source": "a.png", "instruction": "x", "mask": "m.png", "colour": 1}\n')
    with pytest.raises(ManifestError, match=r"field 'colour': Extra inputs are not permitted"):
        read_manifest(manifest)


def test_cocoedit40k_metadata_is_read_with_white_as_keep(tmp_path):
    src, mask = make_files(tmp_path)
    (tmp_path / "metadata.jsonl").write_text(
        json.dumps(
            {"prompt": "make the box red", "image": "images/a.png", "mask": "masks/a.png", "source_dataset": "omniedit"}
        )
        + "\n"
    )
    assert detect_layout(tmp_path / "metadata.jsonl") == "cocoedit40k"
    (sample,) = read_cocoedit40k(tmp_path)
    assert sample.id == "images/a" and sample.instruction == "make the box red"
    assert sample.mask_polarity == "white_is_keep" and sample.metadata == {"source_dataset": "omniedit"}
    edit = load_edit_mask(sample.mask, sample.mask_polarity)
    # The file's white box is the keep region; everything else is the edit region.
    assert edit[0, 5, 7] == 0 and edit[0, 0, 0] == 1
    assert edit.sum() == 16 * 24 - 6 * 8


def test_writer_refuses_duplicates_and_outside_paths(tmp_path):
    src, mask = make_files(tmp_path / "ds")
    s = EditSample(id="a", source=src, instruction="x", mask=mask)
    with pytest.raises(ManifestError, match="duplicate id 'a'"):
        write_manifest([s, s], tmp_path / "ds" / "m.jsonl")
    with pytest.raises(ManifestError, match="outside the manifest folder"):
        write_manifest([s], tmp_path / "other" / "m.jsonl")
    assert not (tmp_path / "other" / "m.jsonl").exists()
