"""The synthetic local-editing task: exact masks, exact targets, determinism, valid manifests."""

import numpy as np
import pytest
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.images import load_edit_mask, load_image
from cocoedit.data.manifest import read_manifest
from cocoedit.data.synthetic import EDIT_TYPES, make_sample, write_synthetic_task


@pytest.mark.parametrize("edit_type", EDIT_TYPES)
def test_target_differs_from_source_exactly_inside_the_mask(edit_type):
    rng = np.random.default_rng(3)
    for _ in range(10):
        s = make_sample(32, rng, edit_type)
        changed = np.any(s.source != s.target, axis=-1)
        assert np.array_equal(changed, s.edit_mask)
        assert 0 < s.edit_mask.mean() < 1
        assert s.edit["type"] == edit_type and s.edit["color"] in s.instruction


def test_instructions_name_the_edit():
    rng = np.random.default_rng(0)
    assert make_sample(32, rng, "remove").instruction.startswith("remove the ")
    assert " bigger" in make_sample(32, rng, "grow").instruction
    replaced = make_sample(32, rng, "replace")
    assert replaced.edit["new_shape"] != replaced.edit["shape"] and replaced.edit["new_color"] in replaced.instruction


def test_written_task_is_deterministic_split_and_valid(tmp_path):
    a = write_synthetic_task(tmp_path / "a", {"train": 10, "validation": 5}, size=24, seed=1)
    b = write_synthetic_task(tmp_path / "b", {"train": 10, "validation": 5}, size=24, seed=1)
    train, val = read_manifest(a["train"]), read_manifest(a["validation"])
    assert [s.instruction for s in train] == [s.instruction for s in read_manifest(b["train"])]
    assert {s.edit_type for s in train} == set(EDIT_TYPES)
    assert [s.instruction for s in train[:5]] != [s.instruction for s in val]
    for s in train[:5]:
        source, target = load_image(s.source), load_image(s.target)
        mask = load_edit_mask(s.mask, s.mask_polarity)
        changed = (source != target).any(dim=0, keepdim=True)
        assert changed.float().equal(mask)
    for split in ("train", "validation"):
        result = CliRunner().invoke(app, ["data", "validate", str(a[split])])
        assert result.exit_code == 0, result.stdout


def test_cli_writes_the_splits(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "dev",
            "make-synthetic",
            "--out",
            str(tmp_path),
            "--train",
            "5",
            "--validation",
            "0",
            "--test",
            "5",
            "--size",
            "16",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "train" / "manifest.jsonl").is_file() and (tmp_path / "test" / "manifest.jsonl").is_file()
    assert not (tmp_path / "validation").exists()


def test_added_shapes_sit_in_the_named_cell():
    from cocoedit.data.synthetic import PLACES

    rng = np.random.default_rng(5)
    cells = {name: rc for rc, name in PLACES.items()}
    for _ in range(20):
        s = make_sample(33, rng, "add")
        assert s.instruction.endswith(f"at the {s.edit['place']}")
        ys, xs = np.nonzero(s.edit_mask)
        row, col = cells[s.edit["place"]]
        assert int(ys.mean() // 11) == row and int(xs.mean() // 11) == col
