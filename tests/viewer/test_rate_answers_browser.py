"""Every answer meant, in a real Chromium: a held key answers once, a double press answers once, one
rater in two tabs cannot answer a task twice and sees why, a failed save stays on screen until
retried, Undo / Skip / "both bad" reach the store as what they are, ranked mode by keyboard with ties,
a page of another origin cannot post votes, malformed paths are 404."""

import time

import pytest

from cocoedit.testing.http import serving
from cocoedit.viewer.export import ratings_summary
from cocoedit.viewer.server import create_app, open_study

ARROW_LEFT = {"key": "ArrowLeft", "code": "ArrowLeft", "windowsVirtualKeyCode": 37, "nativeVirtualKeyCode": 37}


@pytest.fixture
def study(small_bench, tmp_path):
    def start(names=("careful", "global"), mode="pairwise"):
        folders = [small_bench.results[n] for n in names]
        session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / f"{mode}.sqlite", mode=mode)
        opened.append(session)
        return session

    opened = []
    yield start
    for session in opened:
        session.store.close()


def open_rater(browser, base, rater="ann", context=None):
    page = context.new_page() if context else browser.new_page(viewport={"width": 1100, "height": 800})
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{base}/?rater={rater}")
    page.wait_for_selector("#task[data-locked=no]")
    return page, problems


def progress(page):
    return page.inner_text("#progress-text")


def test_a_held_key_and_a_double_press_answer_once(browser, study):
    session = study()
    with serving(create_app(session)) as base:
        page, problems = open_rater(browser, base)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", **ARROW_LEFT})
        for _ in range(20):  # the keyboard's auto-repeat for 1.5 s, past the input lock
            time.sleep(0.075)
            cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", "autoRepeat": True, **ARROW_LEFT})
        cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **ARROW_LEFT})
        page.wait_for_selector("#task[data-locked=no]")
        assert progress(page) == "1 / 3 rated" and len(session.store.judgements()) == 1

        page.keyboard.press("ArrowRight")
        time.sleep(0.15)  # a second press 150 ms later would answer the next task without the lock
        page.keyboard.press("ArrowRight")
        time.sleep(0.3)
        page.wait_for_selector("#task[data-locked=no]")  # the lock is over: a second answer would be in
        assert progress(page) == "2 / 3 rated" and len(session.store.judgements()) == 2
    assert problems == []


def test_one_rater_in_two_tabs_cannot_answer_a_task_twice(browser, study):
    session = study()
    with serving(create_app(session)) as base:
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        first, _ = open_rater(browser, base, context=context)
        second, _ = open_rater(browser, base, context=context)
        assert first.inner_text("#instruction") == second.inner_text("#instruction")  # the same task
        first.click("#choose-a")
        first.wait_for_function("document.querySelector('#progress-text').textContent === '1 / 3 rated'")
        second.click("#choose-b")
        second.wait_for_selector("#save-error:not([hidden])")
        message = second.inner_text("#save-error-text")
        assert "already answered" in message and "not recorded" in message
        time.sleep(1.5)  # it stays until the rater acts on it, and blocks answering meanwhile
        assert second.is_visible("#save-error") and second.inner_text("#save-error-text") == message
        assert second.get_attribute("#task", "data-locked") == "yes" and second.is_disabled("#choose-a")
        answers = session.store.judgements()
        assert len(answers) == 1 and answers[0]["ranking"][0] == [answers[0]["shown"][0]]  # tab 1's "A"
        second.click("#save-error-action")  # Continue
        second.wait_for_function("document.querySelector('#progress-text').textContent === '1 / 3 rated'")
        assert not second.is_visible("#save-error")
        assert second.inner_text("#instruction") == first.inner_text("#instruction")  # both on the next task
        context.close()


def test_a_failed_save_stays_visible_until_it_is_retried(browser, study):
    session = study()
    with serving(create_app(session)) as base:
        page, problems = open_rater(browser, base)
        page.route("**/api/vote", lambda route: route.abort())  # the network drops the answer
        instruction = page.inner_text("#instruction")
        page.click("#choose-a")
        page.wait_for_selector("#save-error:not([hidden])")
        assert "Could not save the answer" in page.inner_text("#save-error-text")
        time.sleep(1.2)
        assert page.is_visible("#save-error") and session.store.judgements() == []
        assert page.inner_text("#instruction") == instruction  # the task stays on screen
        page.unroute("**/api/vote")
        page.click("#save-error-action")  # Retry sends the same answer
        page.wait_for_selector("#save-error", state="hidden")
        page.wait_for_function("document.querySelector('#progress-text').textContent === '1 / 3 rated'")
        (answer,) = session.store.judgements()
        assert answer["kind"] == "rank" and answer["ranking"][0] == [answer["shown"][0]]
    assert [p for p in problems if "api/vote" not in p] == []


def test_undo_skip_and_both_bad_are_recorded_as_what_they_are(browser, study):
    session = study()
    with serving(create_app(session)) as base:
        page, problems = open_rater(browser, base)
        assert page.is_disabled("#undo")  # nothing to undo yet
        instruction = page.inner_text("#instruction")
        page.click("#choose-a")
        page.wait_for_selector("#task[data-locked=no]")
        page.keyboard.press("u")  # undo: the task comes back
        page.wait_for_function("document.querySelector('#progress-text').textContent === '0 / 3 rated'")
        page.wait_for_selector("#task[data-locked=no]")
        assert page.inner_text("#instruction") == instruction and session.store.judgements() == []
        page.click("#choose-both-bad")
        page.wait_for_selector("#task[data-locked=no]")
        page.keyboard.press("s")  # skip
        page.wait_for_selector("#task[data-locked=no]")
        page.click("#choose-tie")
        page.wait_for_selector("text=All done")
    kinds = [(j["kind"], j["ranking"]) for j in session.store.judgements()]
    assert [k for k, _ in kinds] == ["both_bad", "skip", "rank"] and kinds[1][1] == [] and len(kinds[2][1]) == 1
    summary = ratings_summary(session.store, bootstrap=10)
    assert summary["answers"] == {"both_bad": 1, "skip": 1, "rank": 1} and summary["judgements"] == 2
    assert summary["quality"]["raters"]["ann"]["undone"] == 1
    assert problems == []


def test_ranked_mode_by_keyboard_with_ties(browser, study):
    session = study(("careful", "drifting", "global"), mode="ranked")
    with serving(create_app(session)) as base:
        page, problems = open_rater(browser, base, rater="zoe")
        assert page.is_disabled("#submit-ranking")
        page.keyboard.press("1")
        page.keyboard.press("Backspace")  # take it back
        for key in ("2", "t", "3", "1"):  # B, tied with C, then A
            page.keyboard.press(key)
        assert page.inner_text("#ranking-text") == "Your ranking: B = C > A"
        assert page.is_enabled("#submit-ranking")
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelector('#progress-text').textContent === '1 / 3 rated'")
    shown = session.store.task(1).shown
    assert session.store.judgements()[0]["ranking"] == [[shown[1], shown[2]], [shown[0]]]
    assert problems == []


EVIL_PAGE = """<!DOCTYPE html><html><body>
<form id="f" method="POST" enctype="text/plain" action="{vote}" target="sink">
<input name='{{"rater": "ann", "task": {task}, "ranking": [[0], [1]], "x": "' value='"}}'></form>
<iframe name="sink"></iframe>
<script>
const body = JSON.stringify({{rater: "ann", task: {task}, ranking: [[1], [0]]}});
window.tries = Promise.allSettled([
  fetch("{vote}", {{method: "POST", mode: "no-cors", body, headers: {{"Content-Type": "text/plain"}}}}),
  fetch("{vote}", {{method: "POST", body, headers: {{"Content-Type": "application/json", "X-Rating-Token": "guess"}}}}),
]).then((r) => r.map((x) => x.status));
document.getElementById("f").submit();
</script></body></html>"""


def test_another_site_cannot_post_votes_and_malformed_paths_are_404(browser, study):
    from aiohttp import web

    session = study()
    with serving(create_app(session)) as base:
        context = browser.new_context()
        page, _ = open_rater(browser, base, context=context)  # the rater has the study open ...
        task = session.store.next_task("ann", session.units, 0)
        evil = web.Application()
        html = EVIL_PAGE.format(vote=f"{base}/api/vote", task=task.id)

        async def evil_page(request):
            return web.Response(text=html, content_type="text/html")

        evil.router.add_get("/", evil_page)
        with serving(evil) as elsewhere:  # ... and a page of another origin (another port) tries to vote
            attacker = context.new_page()
            attacker.goto(elsewhere + "/")
            assert attacker.evaluate("window.tries") == ["fulfilled", "rejected"]  # the preflight is refused
            time.sleep(0.5)  # the form's post has been answered too
            attacker.close()
        assert session.store.judgements() == []
        for path in ("/img/1/%C2%B2", "/img/1/-1", "/static/rate.html", "/img/99999999999/0"):
            assert page.goto(base + path).status == 404
        context.close()
