"""Fixtures of the viewer tests: a small benchmark."""

import pytest


@pytest.fixture(scope="session")
def small_bench(tmp_path_factory):
    """One sample per category (3 samples) with the three synthetic editors' results."""
    from cocoedit.testing.sample_data import make_sample_benchmark

    return make_sample_benchmark(tmp_path_factory.mktemp("viewer-bench"), "gedit", per_category=1)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (starting one takes a second or two)."""
    from cocoedit.viewer.browser import headless_browser

    with headless_browser() as chromium:
        yield chromium
