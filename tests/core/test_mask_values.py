"""Masks as users have them: a mask saved straight from a 0/1 array (8- or 16-bit) reads as a
mask, not as an empty one; grey values are kept as intensities (binarised at 0.5 where a binary
mask is needed); a file with 0, 1 and 255 is an ordinary 0/255 mask."""

import numpy as np
import pytest
from PIL import Image

from cocoedit.core.images import load_edit_mask, load_mask_values


def region(dtype=np.uint8, on=1) -> np.ndarray:
    values = np.zeros((8, 10), dtype)
    values[2:5, 3:7] = on
    return values


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_zero_one_mask_is_read_as_a_mask(tmp_path, dtype):
    Image.fromarray(region(dtype)).save(tmp_path / "m.png")
    edit = load_edit_mask(tmp_path / "m.png", "white_is_edit")
    assert edit.sum() == 12 and edit[0, 2:5, 3:7].all()
    keep = load_edit_mask(tmp_path / "m.png", "white_is_keep")
    assert keep.sum() == 80 - 12


def test_a_mask_with_zero_one_and_white_is_an_ordinary_mask(tmp_path):
    values = region(on=255)
    values[0, 0] = 1  # a near-black speck is not an edit pixel
    Image.fromarray(values).save(tmp_path / "m.png")
    assert load_edit_mask(tmp_path / "m.png", "white_is_edit").sum() == 12


def test_grey_values_are_intensities_binarised_at_half(tmp_path):
    values = region(on=255)
    values[0, :3] = (127, 128, 200)  # 127/255 < 0.5 <= 128/255
    Image.fromarray(values).save(tmp_path / "m.png")
    raw = load_mask_values(tmp_path / "m.png")
    assert raw[0, 0, 2].item() == pytest.approx(200 / 255)
    assert load_edit_mask(tmp_path / "m.png", "white_is_edit")[0, 0, :3].tolist() == [0.0, 1.0, 1.0]


def test_an_all_black_mask_stays_empty(tmp_path):
    Image.fromarray(np.zeros((8, 10), np.uint8)).save(tmp_path / "m.png")
    assert load_edit_mask(tmp_path / "m.png", "white_is_edit").sum() == 0
