"""Shared fixtures: real photos from scikit-image and generated mask-annotated benchmarks."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def astronaut() -> torch.Tensor:
    """A real photo as float [1, 3, 512, 512] in [0, 1]."""
    from skimage import data

    return torch.from_numpy(np.asarray(data.astronaut(), dtype=np.float32) / 255).permute(2, 0, 1)[None].contiguous()


@pytest.fixture(scope="session")
def gedit_bench(tmp_path_factory):
    from cocoedit.eval.sample_bench import make_sample_benchmark

    return make_sample_benchmark(tmp_path_factory.mktemp("gedit"), "gedit", per_category=2)


@pytest.fixture(scope="session")
def imgedit_bench(tmp_path_factory):
    from cocoedit.eval.sample_bench import make_sample_benchmark

    return make_sample_benchmark(tmp_path_factory.mktemp("imgedit"), "imgedit", per_category=2)
