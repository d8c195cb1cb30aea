"""Pixels as they are, in Chromium: nearest-neighbour upscaling by whole multiples only (an image
larger than its box is shown as it is, never shrunk by a fraction, which drops rows and columns),
one scale for the source and its results, actual size, zoom, flicker, the colour bar, j/k, sort and
filter kept in the URL, and any number of folders in one row (scrolling sideways) on the
side-by-side page and the rating page."""

import shutil

import pytest

from cocoedit.testing.http import serving
from cocoedit.viewer.page import build_view
from cocoedit.viewer.server import create_app, open_study

SCALES = """box => [...box.querySelectorAll('img')].map(i => i.clientWidth / i.naturalWidth)"""


@pytest.fixture(scope="module")
def five_folders(small_bench, tmp_path_factory):
    root = tmp_path_factory.mktemp("five")
    folders = [small_bench.results[n] for n in ("careful", "drifting", "global")]
    for name in ("fourth", "fifth"):
        folders.append(shutil.copytree(small_bench.results["drifting"], root / name))
    return folders


@pytest.fixture(scope="module")
def large_bench(tmp_path_factory):
    """Sources of 320x240: larger than the side-by-side page's 256x192 box."""
    from cocoedit.testing.sample_data import make_sample_benchmark

    return make_sample_benchmark(tmp_path_factory.mktemp("large"), "gedit", per_category=1, size=(240, 320))


def loaded(page, within="body"):
    page.wait_for_function(
        f"[...document.querySelector('{within}').querySelectorAll('img')].every(i => i.complete && i.naturalWidth)"
    )


def test_side_by_side_page_shows_pixels_as_they_are(browser, small_bench, five_folders, tmp_path):
    path = build_view("gedit", small_bench.bench_dir, five_folders, tmp_path / "v")
    page = browser.new_page(viewport={"width": 1920, "height": 1000})
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(path.as_uri())
    loaded(page, ".sample")
    assert page.get_attribute('meta[name="viewport"]', "content") == "width=device-width, initial-scale=1"
    assert page.eval_on_selector("#colour-bar", "i => i.naturalWidth") == 256
    rendering = page.eval_on_selector_all("#samples img", "imgs => imgs.map(i => getComputedStyle(i).imageRendering)")
    assert set(rendering) == {"pixelated"}
    first = page.query_selector(".sample")
    # One scale for every image of a sample; the 128x96 source fits the 256x192 box at exactly 2.
    assert set(first.evaluate(SCALES)) == {2.0}
    # Five folders: the source column and the five result columns in one row, at 1920 px and at 800 px.
    tops = first.eval_on_selector_all(".col", "cols => cols.map(c => c.offsetTop)")
    assert len(tops) == 6 and len(set(tops)) == 1

    page.keyboard.press("a")  # actual pixels: one image pixel per screen pixel
    loaded(page, ".sample")
    assert set(page.query_selector(".sample").evaluate(SCALES)) == {1.0}
    page.keyboard.press("+")
    loaded(page, ".sample")
    assert set(page.query_selector(".sample").evaluate(SCALES)) == {2.0}
    assert "size=actual" in page.url and "zoom=2" in page.url

    page.keyboard.press("j")  # the first sample
    page.keyboard.press("j")  # the second
    assert page.eval_on_selector_all(".sample", "s => s.map(x => x.classList.contains('current'))")[:2] == [False, True]
    page.keyboard.press("k")
    current = page.query_selector(".sample.current")
    source = current.eval_on_selector("figure.source img", "i => i.getAttribute('src')")
    results = "box => [...box.querySelectorAll('figure.result img')].map(i => i.getAttribute('src'))"
    own = current.evaluate(results)
    page.keyboard.press("f")  # flicker: the source in place of every result
    assert current.evaluate(results) == [source] * 5
    page.keyboard.press("f")
    assert current.evaluate(results) == own and source not in own

    page.select_option("#sort", "gap")
    page.select_option("#metric", "keep_psnr")
    page.select_option("#folder-a", "drifting")
    page.select_option("#folder-b", "global")
    order = page.eval_on_selector_all(".sample", "s => s.map(x => x.dataset.key)")
    url = page.url
    assert "sort=gap" in url and "a=drifting" in url and "b=global" in url
    again = browser.new_page(viewport={"width": 800, "height": 900})
    again.goto(url)  # a bookmarked view opens as it was
    assert again.eval_on_selector("#sort", "s => s.value") == "gap"
    assert again.eval_on_selector("#folder-b", "s => s.value") == "global"
    assert again.eval_on_selector_all(".sample", "s => s.map(x => x.dataset.key)") == order
    row = again.query_selector(".sample .cols")
    assert row.evaluate("r => r.scrollWidth > r.clientWidth")  # narrower than the row: it scrolls sideways
    assert len(set(row.eval_on_selector_all(".col", "cols => cols.map(c => c.offsetTop)"))) == 1
    again.close()
    page.close()
    assert problems == []


def test_side_by_side_page_never_shrinks_an_image_larger_than_its_box(browser, large_bench, tmp_path):
    folders = [large_bench.results[n] for n in ("careful", "global")]
    path = build_view("gedit", large_bench.bench_dir, folders, tmp_path / "v")
    page = browser.new_page(viewport={"width": 800, "height": 900})
    page.goto(path.as_uri())
    loaded(page, ".sample")
    first = page.query_selector(".sample")
    assert set(first.evaluate(SCALES)) == {1.0}  # 320x240 in a 256x192 box: shown as it is
    assert first.eval_on_selector(".cols", "r => r.scrollWidth > r.clientWidth")  # the row scrolls instead
    page.keyboard.press("+")
    loaded(page, ".sample")
    assert set(page.query_selector(".sample").evaluate(SCALES)) == {2.0}
    page.close()


def test_rating_page_shows_source_and_results_at_one_scale_in_one_row(browser, small_bench, five_folders, tmp_path):
    session, _ = open_study("gedit", small_bench.bench_dir, five_folders, tmp_path / "r.sqlite", mode="ranked")
    with serving(create_app(session)) as base:
        page = browser.new_page(viewport={"width": 1920, "height": 1000})
        page.goto(f"{base}/?rater=ann")
        page.wait_for_selector("#task[data-locked=no]")
        loaded(page)
        assert page.get_attribute('meta[name="viewport"]', "content") == "width=device-width, initial-scale=1"
        images = page.query_selector("#images")
        widths = images.eval_on_selector_all("img", "imgs => imgs.map(i => i.clientWidth)")
        assert len(widths) == 6 and len(set(widths)) == 1  # the source is as large as every result
        assert set(images.evaluate(SCALES)) == {2.0}  # a whole multiple: 6 x 2 x 128 px fit 1920 px
        tops = images.eval_on_selector_all("figure", "fs => fs.map(f => f.getBoundingClientRect().top)")
        assert len(set(tops)) == 1  # the fifth result does not wrap under the source
        rendering = images.eval_on_selector_all("img", "imgs => imgs.map(i => getComputedStyle(i).imageRendering)")
        assert set(rendering) == {"pixelated"}
        page.set_viewport_size({"width": 800, "height": 900})  # six 128 px images do not fit: 1x, never less
        page.wait_for_function("document.querySelector('#source').clientWidth === 128")
        assert set(images.evaluate(SCALES)) == {1.0} and images.evaluate("r => r.scrollWidth > r.clientWidth")
        page.set_viewport_size({"width": 1920, "height": 1000})
        page.keyboard.press("0")  # actual pixels
        assert set(images.evaluate(SCALES)) == {1.0}
        page.keyboard.press("+")
        page.keyboard.press("+")
        assert set(images.evaluate(SCALES)) == {3.0}
        assert images.evaluate("r => r.scrollWidth > r.clientWidth")  # six 384 px images: scrolls sideways
        source = page.get_attribute("#source", "src")
        page.keyboard.press("f")
        assert (
            page.eval_on_selector_all(".candidate img", "imgs => imgs.map(i => i.getAttribute('src'))") == [source] * 5
        )
        page.close()
    session.store.close()
