"""Stop and resume at will, in a real Chromium: a rating page left open while the server is stopped
keeps its unsaved answer on screen, and once the server is back (the same study file) the answer and
the next ones save, also when the server's page token is not the one the page was loaded with."""

import socket

from cocoedit.testing.http import serving
from cocoedit.viewer.server import create_app, open_study

DONE = "document.querySelector('#progress-text').textContent === '{} / 3 rated'"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_page_left_open_across_restarts_saves_its_answers(browser, small_bench, tmp_path):
    folders = [small_bench.results["careful"], small_bench.results["global"]]
    db, port = tmp_path / "r.sqlite", free_port()

    def start():
        session, _ = open_study("gedit", small_bench.bench_dir, folders, db)
        opened.append(session)
        return session

    opened = []
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    first = start()
    with serving(create_app(first), port) as base:
        page.goto(f"{base}/?rater=ann")
        page.wait_for_selector("#task[data-locked=no]")
        page.click("#choose-a")
        page.wait_for_function(DONE.format(1))
        page.wait_for_selector("#task[data-locked=no]")
    first.store.close()  # the server is stopped; the rater answers anyway
    instruction = page.inner_text("#instruction")
    page.click("#choose-b")
    page.wait_for_selector("#save-error:not([hidden])")
    assert "Could not save the answer (B > A)" in page.inner_text("#save-error-text")

    second = start()  # restarted on the same file: the same page token
    assert second.page_token == first.page_token and second.admin_token != first.admin_token
    with serving(create_app(second), port):
        assert page.is_visible("#save-error") and page.inner_text("#instruction") == instruction
        page.click("#save-error-action")  # Retry
        page.wait_for_function(DONE.format(2))
        page.wait_for_selector("#task[data-locked=no]")
    second.store.close()

    third = start()
    third.page_token = "not-the-one-the-page-has"  # e.g. a study file recorded before tokens were kept
    with serving(create_app(third), port):
        page.click("#choose-tie")  # refused for its token, fetches the current one, sent again
        page.wait_for_selector("text=All done")
        assert not page.is_visible("#save-error")
    answers = third.store.judgements()
    third.store.close()
    assert [len(a["ranking"]) for a in answers] == [2, 2, 1]  # A, B, tie: each saved once
    assert answers[1]["ranking"][0] == [answers[1]["shown"][1]]  # the answer kept on screen is B
    assert problems == []
