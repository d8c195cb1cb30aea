"""Images are read upright: the EXIF orientation a phone writes is applied when any image or mask
file is read (as diffusers' ``load_image`` does), so a rotated photo and the mask drawn on it as
shown line up, and ``image_size`` reports the size as shown."""

import numpy as np
import pytest
from PIL import Image

from cocoedit.core.images import image_size, load_edit_mask, load_image, open_image

ORIENTATION = 0x0112


def save_with_orientation(array: np.ndarray, path, orientation: int) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(array).save(path, exif=exif.tobytes())


def stored_image() -> np.ndarray:
    """20 rows x 40 columns as stored, a red pixel at the stored top-left corner."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[0, 0] = (255, 0, 0)
    return stored


def test_a_photo_stored_sideways_is_read_as_shown(tmp_path):
    path = tmp_path / "phone.png"  # PNG (which carries EXIF too): exact pixels
    save_with_orientation(stored_image(), path, 6)
    # Orientation 6: the camera was turned a quarter clockwise; shown, the image is 40 rows x 20
    # columns and the stored top-left corner is at the top right.
    assert image_size(path) == (40, 20)
    image = load_image(path)
    assert tuple(image.shape) == (3, 40, 20)
    assert image[:, 0, 19].tolist() == [1.0, 0.0, 0.0]
    assert float(image.sum()) == 1.0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_diffusers_load_image(tmp_path, orientation):
    from diffusers.utils import load_image as diffusers_load_image

    path = tmp_path / f"o{orientation}.png"
    rng = np.random.default_rng(orientation)
    save_with_orientation(rng.integers(0, 255, (6, 10, 3), dtype=np.uint8), path, orientation)
    ours = np.asarray(open_image(path).convert("RGB"))
    assert np.array_equal(ours, np.asarray(diffusers_load_image(str(path))))


def test_a_mask_drawn_on_the_photo_as_shown_lines_up_with_it(tmp_path):
    save_with_orientation(stored_image(), tmp_path / "phone.png", 6)
    shown_mask = np.zeros((40, 20), np.uint8)
    shown_mask[0, 19] = 255  # the red pixel, where the user sees it
    Image.fromarray(shown_mask).save(tmp_path / "mask.png")
    image, mask = load_image(tmp_path / "phone.png"), load_edit_mask(tmp_path / "mask.png", "white_is_edit")
    assert image.shape[1:] == mask.shape[1:]
    assert float((image[0] * mask[0]).sum()) == 1.0

    # A mask saved by the same phone (stored sideways, with the tag) is turned the same way.
    save_with_orientation(np.ascontiguousarray(np.rot90(shown_mask, k=1)), tmp_path / "phone_mask.png", 6)
    assert np.array_equal(load_edit_mask(tmp_path / "phone_mask.png", "white_is_edit"), mask)
