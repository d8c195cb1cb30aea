"""Every image file is read by one rule: a regular file inside its root, decoding completely,
within the pixel limit checked before decoding; 16-bit, palette and alpha images come out right."""

import os
import tracemalloc

import numpy as np
import pytest
from PIL import Image
from skimage import data

from cocoedit.core.images import (
    DEFAULT_MAX_IMAGE_PIXELS,
    MAX_IMAGE_PIXELS_ENV,
    ImageFileError,
    load_image,
    load_mask_values,
    max_image_pixels,
    open_image,
    open_rgb_image,
)


def test_a_decompression_bomb_is_refused_from_its_header_without_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(bomb, optimize=True)  # 144 megapixels in a few hundred KB
    assert bomb.stat().st_size < 1_000_000
    tracemalloc.start()
    with pytest.raises(ImageFileError, match=r"bomb.png: image is 12000x12000 = 144000000 pixels, over the limit"):
        open_image(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20_000_000  # decoding would take 144 MB


def test_pillows_own_bomb_error_becomes_an_image_file_error(tmp_path, monkeypatch):
    bomb = tmp_path / "huge.png"
    Image.new("1", (20000, 10000)).save(bomb, optimize=True)  # over twice Pillow's threshold
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, str(10**9))
    with pytest.raises(ImageFileError, match=r"huge.png: image too large to decode"):
        open_image(bomb)


def test_the_limit_is_one_setting(tmp_path, monkeypatch):
    photo = tmp_path / "camera.png"
    Image.fromarray(data.camera()).save(photo)  # 512 x 512
    assert max_image_pixels() == DEFAULT_MAX_IMAGE_PIXELS >= 4 * 4096 * 4096
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, str(512 * 512))
    assert open_image(photo).size == (512, 512)
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, str(512 * 512 - 1))
    with pytest.raises(ImageFileError, match="over the limit of 262143"):
        open_image(photo)
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "lots")
    with pytest.raises(Exception, match=f"{MAX_IMAGE_PIXELS_ENV}='lots': expected a positive whole number"):
        open_image(photo)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    grey8 = data.camera()
    path = tmp_path / "camera16.png"
    Image.fromarray(grey8.astype(np.uint16) * 257).save(path)
    with Image.open(path) as raw:
        assert raw.mode.startswith("I")
    rgb = np.asarray(open_rgb_image(path))
    assert np.array_equal(rgb[..., 0], grey8) and np.array_equal(rgb[..., 2], grey8)
    assert load_image(path).mean().item() == pytest.approx(grey8.mean() / 255, abs=1e-4)
    assert load_mask_values(path).mean().item() == pytest.approx(grey8.mean() / 255, abs=1e-4)


def test_palette_and_alpha_images_keep_their_colours(tmp_path):
    photo = data.astronaut()[:64, :64]
    palette = tmp_path / "palette.png"
    Image.fromarray(photo).quantize(64).save(palette)
    with Image.open(palette) as im:
        expected = np.asarray(im.convert("RGB"))
    assert np.array_equal(np.asarray(open_rgb_image(palette)), expected)

    rgba = np.dstack([photo, np.zeros(photo.shape[:2], np.uint8)])  # fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert np.array_equal(np.asarray(open_rgb_image(tmp_path / "rgba.png")), photo)  # alpha dropped

    grey = data.camera()[:64, :64]
    Image.fromarray(np.dstack([grey, np.full_like(grey, 7)]), "LA").save(tmp_path / "la.png")
    assert np.array_equal(np.asarray(open_rgb_image(tmp_path / "la.png"))[..., 1], grey)


def test_only_regular_files_inside_the_root_are_read(tmp_path):
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ImageFileError, match="folder.png: not a regular file"):
        open_image(tmp_path / "folder.png")
    os.mkfifo(tmp_path / "pipe.png")  # reading it would block forever
    with pytest.raises(ImageFileError, match="pipe.png: not a regular file"):
        open_image(tmp_path / "pipe.png")
    outside = tmp_path / "outside.png"
    Image.fromarray(data.camera()).save(outside)
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link.png").symlink_to(outside)
    assert open_image(tmp_path / "root" / "link.png").size == (512, 512)
    with pytest.raises(ImageFileError, match=r"link.png: its real path .*outside.png is outside"):
        open_image(tmp_path / "root" / "link.png", root=tmp_path / "root")


def test_truncated_and_non_image_files_are_named(tmp_path):
    whole = tmp_path / "whole.png"
    Image.fromarray(data.astronaut()).save(whole)
    (tmp_path / "cut.png").write_bytes(whole.read_bytes()[:5000])
    with pytest.raises(ImageFileError, match="cut.png: unreadable or truncated image"):
        open_image(tmp_path / "cut.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageFileError, match="text.png: not a readable image"):
        open_image(tmp_path / "text.png")
