"""Report pictures show pixels as they are: a whole-number scale when enlarging (every pixel a square
of one size), and a picture shown smaller than its image is stored at the size shown, so the browser
never resamples by a fraction (which drops rows and columns under nearest-neighbour rendering)."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from cocoedit.core.reporting import TILE_BOX, display_scale, plot, pyplot, thumbnail


def stored_size(picture):
    return Image.open(io.BytesIO(base64.b64decode(picture.src.split(",", 1)[1]))).size


def noise(width, height):
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("size", "scale"), [((40, 30), 4.0), ((128, 96), 1.0), ((64, 48), 2.0), ((90, 67), 2.0), ((180, 135), 1.0)]
)
def test_display_scale_is_a_whole_number_when_the_image_fits(size, scale):
    assert display_scale(size) == scale and TILE_BOX == (180, 135)


def test_a_thumbnail_is_a_whole_multiple_of_its_pixels_or_stored_at_the_size_shown():
    small = thumbnail(noise(40, 30), scale=display_scale((40, 30)))
    assert stored_size(small) == (40, 30) and (small.width, small.height) == (160, 120) and small.pixelated
    odd = thumbnail(noise(40, 30), scale=2.7)  # a caller's fractional scale is rounded down to a multiple
    assert (odd.width, odd.height) == (80, 60)
    large = noise(1000, 750)
    shrunk = thumbnail(large, scale=display_scale(large.size))
    assert stored_size(shrunk) == (shrunk.width, shrunk.height) == (180, 135)  # one CSS px per stored pixel
    error_map = thumbnail(noise(400, 300), scale=display_scale(large.size), shown_size=large.size)
    assert stored_size(error_map) == (error_map.width, error_map.height) == (180, 135)


def test_a_natural_plot_is_shown_at_its_own_size_with_nearest_neighbour():
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.imshow(np.eye(4), interpolation="nearest")
    picture = plot(fig, "grid", natural=True)
    assert (picture.width, picture.height) == stored_size(picture) and picture.pixelated
    fig, _ = plt.subplots(figsize=(2, 1))
    assert plot(fig, "curves").width is None  # plots of lines still fit the page
