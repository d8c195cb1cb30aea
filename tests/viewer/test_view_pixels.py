"""`cocoedit view` stores pixels as they are: lossless PNGs, exact below --max-side, and above it
every image of a sample shrunk by one factor (maps keeping the largest error of each block)."""

import inspect
import json
import re

import numpy as np
from PIL import Image

from cocoedit.cli.viewer import view
from cocoedit.core.error_map import heatmap_image, keep_error_map, pooled_error_map
from cocoedit.core.images import open_rgb_image, pil_to_tensor
from cocoedit.eval.benchmarks import load_bench_edit_mask, load_benchmark, open_bench_source, result_path
from cocoedit.viewer.page import THUMB_SIDE, build_view

LABELS = ("careful", "global")  # "global" writes results 1.5 times the source's size


def page_data(path):
    html = path.read_text()
    return json.loads(re.search(r'<script id="view-data" type="application/json">(.*?)</script>', html, re.S).group(1))


def pixels(path):
    image = Image.open(path)
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def expected_map(sample, result_dir, max_side=None):
    source = open_bench_source(sample)
    result = open_rgb_image(result_path(result_dir, sample)).resize(source.size, Image.BICUBIC)
    error = keep_error_map(pil_to_tensor(result), pil_to_tensor(source), load_bench_edit_mask(sample))
    return np.asarray(heatmap_image(error if max_side is None else pooled_error_map(error, max_side)))


def test_images_are_stored_exactly_as_lossless_pngs(small_bench, tmp_path):
    folders = [small_bench.results[n] for n in LABELS]
    page = build_view("gedit", small_bench.bench_dir, folders, tmp_path / "v")
    out = page.parent
    samples = {s.key: s for s in load_benchmark("gedit", small_bench.bench_dir)}
    assert inspect.signature(view).parameters["max_side"].default == THUMB_SIDE
    assert (out / "images" / "colour-bar.png").is_file()
    for entry in page_data(page)["samples"]:
        sample = samples[entry["key"]]
        source = np.asarray(open_bench_source(sample))
        assert np.array_equal(pixels(out / entry["source"]), source)
        assert entry["size"] == entry["original_size"] == [source.shape[1], source.shape[0]]
        for label, folder in zip(LABELS, folders, strict=True):
            cell = entry["results"][label]
            original = np.asarray(open_rgb_image(result_path(folder, sample)))
            assert np.array_equal(pixels(out / cell["image"]), original)  # no JPEG, no resampling
            assert cell["size"] == [original.shape[1], original.shape[0]]
            assert np.array_equal(pixels(out / cell["error_map"]), expected_map(sample, folder))


def test_above_max_side_a_sample_is_shrunk_by_one_factor(small_bench, tmp_path):
    folders = [small_bench.results[n] for n in LABELS]
    page = build_view("gedit", small_bench.bench_dir, folders, tmp_path / "v", max_side=64)
    samples = {s.key: s for s in load_benchmark("gedit", small_bench.bench_dir)}
    entry = page_data(page)["samples"][0]
    assert entry["original_size"] == [128, 96] and entry["size"] == [64, 48]
    assert Image.open(page.parent / entry["source"]).size == (64, 48)
    careful, wide = entry["results"]["careful"], entry["results"]["global"]
    assert careful["size"] == [64, 48] and wide["size"] == [96, 72] and wide["original_size"] == [192, 144]
    error_map = pixels(page.parent / wide["error_map"])
    assert error_map.shape == (48, 64, 3)
    assert np.array_equal(error_map, expected_map(samples[entry["key"]], folders[1], max_side=64))
