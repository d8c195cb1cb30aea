"""The rating page in headless Chromium, as a rater uses it: rate a few pairs, reload and find them
kept, see the aggregate (behind the admin token). Needs Debian's chromium (the Makefile installs
it); fails without it."""

import re

import pytest

from cocoedit.testing.http import serving
from cocoedit.viewer.browser import headless_browser
from cocoedit.viewer.server import create_app, open_study


def test_rate_reload_and_see_the_aggregate(small_bench, tmp_path):
    folders = [small_bench.results["careful"], small_bench.results["global"]]
    session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / "ratings.sqlite")
    problems = []
    with serving(create_app(session)) as base, headless_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(base + "/")
        page.fill("#rater", "ann")
        page.click("text=Start")
        page.wait_for_selector("#task:not([hidden])")
        assert page.inner_text("#progress-text") == "0 / 3 rated"
        instructions = {s.instruction for s in session.samples.values()}
        assert page.inner_text("#instruction") in instructions
        assert page.eval_on_selector("#source", "img => img.naturalWidth") > 0  # the source image loaded
        assert page.eval_on_selector_all(".candidate img", "imgs => imgs.map(i => i.naturalWidth)") != [0, 0]
        assert not re.search("careful|global", page.content())  # nothing names a folder

        page.click("#choose-a")
        page.wait_for_function("document.querySelector('#progress-text').textContent === '1 / 3 rated'")
        page.wait_for_selector("#task[data-locked=no]")  # input is locked for a moment after each answer
        page.keyboard.press("ArrowRight")  # the keyboard answers too: B is better
        page.wait_for_function("document.querySelector('#progress-text').textContent === '2 / 3 rated'")
        page.screenshot(path=str(tmp_path / "rating.png"))

        page.reload()  # the rater id is in the URL and local storage; the answers are on the server
        page.wait_for_selector("#task:not([hidden])")
        assert page.inner_text("#rater-name") == "ann"
        assert page.inner_text("#progress-text") == "2 / 3 rated"
        page.click("#choose-tie")
        page.wait_for_selector("text=All done")
        assert page.eval_on_selector_all("a", "links => links.map(a => a.getAttribute('href'))") == ["#"]

        page.goto(f"{base}/results?token={session.admin_token}")  # the aggregate is for the admin only
        page.wait_for_selector("h2:has-text('Standings')")
        table = page.inner_text("table")
        assert "careful" in table and "global" in table and "95 % interval" in table
        page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
    assert problems == []
    answers = session.store.judgements()
    assert len(answers) == 3 and {a["rater"] for a in answers} == {"ann"}
    assert sum(len(a["ranking"]) == 1 for a in answers) == 1  # the tie
    session.store.close()


@pytest.mark.slow
def test_ranked_mode_orders_by_clicks(small_bench, tmp_path):
    folders = [small_bench.results[n] for n in ("careful", "drifting", "global")]
    session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / "r.sqlite", mode="ranked")
    with serving(create_app(session)) as base, headless_browser() as browser:
        page = browser.new_page()
        page.goto(base + "/?rater=zoe")  # the rater id may come in the URL
        page.wait_for_selector("#task:not([hidden])")
        shown = session.store.task(1).shown
        assert page.is_disabled("#submit-ranking")
        for name in ("global", "careful", "drifting"):  # best to worst
            page.click(f'.candidate[data-position="{shown.index(name)}"]')
        page.click("#submit-ranking")
        page.wait_for_function("document.querySelector('#progress-text').textContent === '1 / 3 rated'")
    assert session.store.judgements()[0]["ranking"] == [["global"], ["careful"], ["drifting"]]
    session.store.close()
