"""The edit-region tile of the consistency report and of `cocoedit view` tints exactly the edit
region, also for a benchmark whose masks are saved as 0/1 values (white = keep, 1 = keep)."""

import base64
import io

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.images import load_edit_mask
from cocoedit.core.reporting import mask_overlay
from cocoedit.eval.report import sample_comparison
from cocoedit.testing.sample_data import make_sample_benchmark

GREY = 128


@pytest.fixture(scope="module")
def zero_one_bench(tmp_path_factory):
    """A small benchmark of grey sources whose masks are rewritten as 0 (edit) / 1 (keep) files."""
    bench = make_sample_benchmark(tmp_path_factory.mktemp("zero-one"), "gedit", per_category=1, size=(24, 32))
    for mask in bench.bench_dir.rglob("*_mask.png"):
        keep = np.asarray(Image.open(mask).convert("L")) >= 128
        Image.fromarray(keep.astype(np.uint8)).save(mask)
        source = mask.with_name(mask.name.replace("_mask", ""))
        Image.fromarray(np.full((*keep.shape, 3), GREY, np.uint8)).save(source)
    return bench


def tinted(image: Image.Image) -> np.ndarray:
    """Where a grey source was tinted red."""
    return np.asarray(image.convert("RGB"))[..., 0] != GREY


def first_mask(bench) -> tuple:
    mask = sorted(bench.bench_dir.rglob("*_mask.png"))[0]
    edit = np.asarray(Image.open(mask)) == 0
    assert 0 < edit.sum() < edit.size  # the sample has both regions
    return mask, edit


def test_the_overlay_tints_the_edit_region_of_a_zero_one_keep_mask(zero_one_bench):
    mask, edit = first_mask(zero_one_bench)
    source = Image.open(mask.with_name(mask.name.replace("_mask", "")))
    overlay = mask_overlay(source, load_edit_mask(mask, "white_is_keep"))
    np.testing.assert_array_equal(tinted(overlay), edit)
    # A mask of another size is resampled to the source's.
    half = mask_overlay(source.resize((64, 48)), load_edit_mask(mask, "white_is_keep"))
    assert tinted(half).mean() == pytest.approx(edit.mean(), abs=0.02)


def test_the_report_tile_tints_the_edit_region(zero_one_bench):
    mask, edit = first_mask(zero_one_bench)
    row = {
        "key": "0001",
        "category": "x",
        "instruction": "",
        "results": "careful",
        "status": "missing",
        "source_path": str(mask.with_name(mask.name.replace("_mask", ""))),
        "mask_path": str(mask),
    }
    view = sample_comparison("0001", [row], ["careful"])
    tile = view.columns[0].tiles[1]
    picture = Image.open(io.BytesIO(base64.b64decode(tile.src.split(",", 1)[1])))
    np.testing.assert_array_equal(tinted(picture), edit)


def test_the_view_page_tile_tints_the_edit_region(zero_one_bench, tmp_path):
    mask, edit = first_mask(zero_one_bench)
    args = ["view", "--bench", "gedit", "--bench-dir", str(zero_one_bench.bench_dir), "--out", str(tmp_path / "v")]
    result = CliRunner().invoke(app, [*args, "--results", str(zero_one_bench.results["careful"])])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(tinted(Image.open(tmp_path / "v" / "images" / "00000" / "edit-region.png")), edit)
