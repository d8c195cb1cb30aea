"""The side-by-side page in headless Chromium, opened from disk: every image loads, sorting by the
gap between two folders orders the samples by that gap, filters narrow them, no script error."""

from cocoedit.eval.benchmarks import load_benchmark
from cocoedit.viewer.browser import headless_browser
from cocoedit.viewer.page import build_view


def test_sort_by_gap_and_filter_in_the_browser(small_bench, tmp_path):
    labels = ["careful", "drifting", "global"]
    page_path = build_view("gedit", small_bench.bench_dir, [small_bench.results[n] for n in labels], tmp_path / "v")
    problems = []
    with headless_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(page_path.as_uri())
        samples = load_benchmark("gedit", small_bench.bench_dir)
        assert page.inner_text("#count") == f"{len(samples)} of {len(samples)} samples match; showing {len(samples)}."
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # lazy images load once near the view
        page.wait_for_function("[...document.images].every(i => i.complete)")
        widths = page.eval_on_selector_all("#samples img", "imgs => imgs.map(i => i.naturalWidth)")
        assert len(widths) == len(samples) * (2 + 2 * len(labels)) and min(widths) > 0

        page.select_option("#sort", "gap")
        page.select_option("#metric", "keep_psnr")
        page.select_option("#folder-a", "drifting")
        page.select_option("#folder-b", "global")
        gaps = [float(t.rsplit(":", 1)[1]) for t in page.eval_on_selector_all(".gap", "g => g.map(x => x.textContent)")]
        assert len(gaps) == len(samples) and gaps == sorted(gaps, reverse=True) and min(gaps) > 0
        page.select_option("#direction", "asc")
        again = [
            float(t.rsplit(":", 1)[1]) for t in page.eval_on_selector_all(".gap", "g => g.map(x => x.textContent)")
        ]
        assert again == sorted(gaps)

        # Exact copies are "exact" and sort above every finite PSNR.
        page.select_option("#folder-a", "careful")
        assert page.eval_on_selector_all(".gap", "g => g.map(x => x.textContent)")[0].endswith("+∞")
        assert "keep PSNR exact" in page.inner_text(".sample")

        page.fill("#min-gap", "1000")
        page.select_option("#folder-a", "drifting")
        assert page.inner_text("#count").startswith("0 of")
        page.fill("#min-gap", "")
        page.select_option("#category", samples[0].category)
        shown = page.eval_on_selector_all(".sample", "s => s.map(x => x.dataset.key)")
        assert shown and set(shown) == {s.key for s in samples if s.category == samples[0].category}
        page.fill("#search", samples[0].key)
        assert page.eval_on_selector_all(".sample", "s => s.map(x => x.dataset.key)") == [samples[0].key]
        page.screenshot(path=str(tmp_path / "view.png"), full_page=True)
    assert problems == []
