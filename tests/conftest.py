"""Shared fixtures: real photos from scikit-image, generated mask-annotated benchmarks, and the
stock Qwen pipelines' 1024² constants patched small."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def astronaut() -> torch.Tensor:
    """A real photo as float [1, 3, 512, 512] in [0, 1]."""
    from skimage import data

    return torch.from_numpy(np.asarray(data.astronaut(), dtype=np.float32) / 255).permute(2, 0, 1)[None].contiguous()


@pytest.fixture(scope="session")
def gedit_bench(tmp_path_factory):
    from cocoedit.testing.sample_data import make_sample_benchmark

    return make_sample_benchmark(tmp_path_factory.mktemp("gedit"), "gedit", per_category=2)


@pytest.fixture(scope="session")
def imgedit_bench(tmp_path_factory):
    from cocoedit.testing.sample_data import make_sample_benchmark

    return make_sample_benchmark(tmp_path_factory.mktemp("imgedit"), "imgedit", per_category=2)


SIZE = 64  # working resolution of the photo fixtures


def photo(name: str, size: tuple[int, int]) -> Image.Image:
    """A real scikit-image photo resized to ``size = (width, height)``."""
    from skimage import data

    return Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB").resize(size, Image.BICUBIC)


@pytest.fixture(scope="session")
def astronaut_small() -> Image.Image:
    return photo("astronaut", (SIZE, SIZE))


@pytest.fixture(scope="session")
def coffee_small() -> Image.Image:
    return photo("coffee", (SIZE, SIZE))


@pytest.fixture
def small_qwen_constants(monkeypatch):
    """Call ``small_qwen_constants(vae_area, vl_area)`` to make the stock Qwen pipelines condition
    at those areas instead of their hard-coded 1024² (and 384² for the 2509 VL image).

    Unpatched, a tiny call takes ~30 s on CPU; our own adapters take the size from the caller.
    """
    import diffusers.pipelines.qwenimage.pipeline_qwenimage_edit as edit_mod
    import diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus as plus_mod

    original = edit_mod.calculate_dimensions

    def patch(vae_area: int, vl_area: int) -> None:
        monkeypatch.setattr(plus_mod, "VAE_IMAGE_SIZE", vae_area)
        monkeypatch.setattr(plus_mod, "CONDITION_IMAGE_SIZE", vl_area)
        monkeypatch.setattr(edit_mod, "calculate_dimensions", lambda area, ratio: original(vae_area, ratio))

    return patch
