"""The rating app refuses what a rater never meant or another site sent: answers without JSON or the
page token or from another origin, requests by a host name it was not started for (DNS rebinding),
a second answer to a task, an undo of anything but the latest answer; malformed paths are 404
(never 500, one address per image); an unexpected failure is a 500 that reveals nothing; the
aggregate needs the admin token; every response carries the same neutral headers."""

import http.client
import json
import urllib.parse

import pytest

from cocoedit.testing.http import serving
from cocoedit.viewer.server import TOKEN_HEADER, create_app, open_study


def request(base, method, path, body=None, headers=None):
    """(status, headers, body bytes) of one raw HTTP request, paths sent exactly as given."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def app(small_bench, tmp_path):
    folders = [small_bench.results["careful"], small_bench.results["global"]]
    session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / "r.sqlite")
    with serving(create_app(session)) as base:
        yield session, base
    session.store.close()


def vote(base, session, body, **headers):
    sent = {"Content-Type": "application/json", TOKEN_HEADER: session.page_token, **headers}
    status, _, raw = request(base, "POST", "/api/vote", json.dumps(body).encode(), sent)
    return status, json.loads(raw)


def test_answers_need_json_the_page_token_and_this_origin(app):
    session, base = app
    task = json.loads(request(base, "GET", "/api/task?rater=ann")[2])["task"]
    body = {"rater": "ann", "task": task["id"], "ranking": [[0], [1]]}
    assert session.page_token in request(base, "GET", "/")[2].decode()  # issued with the page
    # What a form on another site can send: a simple request with a text/plain body.
    status, _, raw = request(
        base, "POST", "/api/vote", json.dumps(body).encode(), {"Content-Type": "text/plain", "Origin": "http://evil"}
    )
    assert status == 415 and b"JSON" in raw
    assert vote(base, session, body, **{TOKEN_HEADER: ""})[0] == 403
    assert vote(base, session, body, **{TOKEN_HEADER: "guessed"})[0] == 403
    status, answer = vote(base, session, body, Origin="http://evil.example")
    assert status == 403 and "evil.example" in answer["error"]
    assert session.store.judgements() == []
    status, answer = vote(base, session, body, Origin=base)
    assert status == 200 and answer["last_answer"] == task["id"]


def test_a_task_is_answered_once_and_only_the_latest_answer_can_be_undone(app):
    session, base = app
    first = json.loads(request(base, "GET", "/api/task?rater=ann")[2])["task"]
    assert vote(base, session, {"rater": "ann", "task": first["id"], "kind": "skip"})[0] == 200
    status, answer = vote(base, session, {"rater": "ann", "task": first["id"], "ranking": [[1], [0]]})
    assert status == 409 and "already answered" in answer["error"]
    second = json.loads(request(base, "GET", "/api/task?rater=ann")[2])
    assert second["last_answer"] == first["id"] and second["task"]["id"] != first["id"]
    assert vote(base, session, {"rater": "ann", "task": second["task"]["id"], "kind": "both_bad"})[0] == 200
    assert vote(base, session, {"rater": "ann", "task": second["task"]["id"], "kind": "maybe"})[0] == 400

    def undo(task_id):
        sent = {"Content-Type": "application/json", TOKEN_HEADER: session.page_token}
        status, _, raw = request(base, "POST", "/api/undo", json.dumps({"rater": "ann", "task": task_id}), sent)
        return status, json.loads(raw)

    status, answer = undo(first["id"])  # not the latest
    assert status == 409 and "latest" in answer["error"]
    assert undo(second["task"]["id"])[0] == 200
    assert [j["kind"] for j in session.store.judgements()] == ["skip"]
    assert session.store.withdrawn_counts() == {"ann": 1}
    again = json.loads(request(base, "GET", "/api/task?rater=ann")[2])
    assert again["task"]["id"] == second["task"]["id"] and again["progress"]["done"] == 1  # it comes back
    assert vote(base, session, {"rater": "ann", "task": second["task"]["id"], "ranking": [[0, 1]]})[0] == 200
    assert [j["kind"] for j in session.store.judgements()] == ["skip", "rank"]


def test_unknown_kinds_and_ranked_both_bad_are_refused(small_bench, tmp_path):
    folders = [small_bench.results[n] for n in ("careful", "drifting", "global")]
    session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / "r.sqlite", mode="ranked")
    with serving(create_app(session)) as base:
        task = json.loads(request(base, "GET", "/api/task?rater=zoe")[2])["task"]
        status, answer = vote(base, session, {"rater": "zoe", "task": task["id"], "kind": "both_bad"})
        assert status == 400 and "pair" in answer["error"]
        for bad in ({"rater": "zoe", "task": True}, {"rater": "zoe", "task": 2**40}, {"rater": 5, "task": 1}, [1]):
            assert vote(base, session, bad)[0] == 400
        ranking = [[2], [0, 1]]  # ties are answers too
        assert vote(base, session, {"rater": "zoe", "task": task["id"], "ranking": ranking})[0] == 200
    assert len(session.store.judgements()[0]["ranking"]) == 2
    session.store.close()


def test_malformed_paths_are_not_found_and_every_response_is_neutral(app):
    session, base = app
    task = json.loads(request(base, "GET", "/api/task?rater=ann")[2])["task"]
    image = task["shown"][0]
    for path in (
        "/img/1/%C2%B2",  # a superscript two (as a browser sends it): a digit to str.isdigit, not to int
        "/img/1/01",  # leading zeros: int() reads them, but an image has one address
        "/img/01/0",
        "/img/001/source",
        "/img/1/00",
        "/img/0/0",
        "/img/1/+1",
        "/img/1/-1",
        "/img/1/99",
        "/img/x/0",
        "/img/99999999999999999999/0",
        "/img/1/0/extra",
        "/img/1/source%00",
        "/static/rate.html",
        "/static/../rate.html",
        "/static/%2e%2e/server.py",
        "/results/",
        "/api/task/",
        "/%ff",
        "/nothing",
    ):
        status, headers, _ = request(base, "GET", path)
        assert status == 404, path
        assert headers["Cache-Control"] == "no-store" and headers["X-Frame-Options"] == "DENY", path
    for path in ("/", "/static/rate.js", "/api/task?rater=ann", task["source"], image):
        status, headers, _ = request(base, "GET", path)
        assert status == 200, path
        assert headers["Cache-Control"] == "no-store" and "ETag" not in headers and "Last-Modified" not in headers
        assert (
            headers["X-Content-Type-Options"] == "nosniff"
            and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        )
    assert request(base, "GET", image)[1]["Content-Type"] == "image/png"


def test_the_aggregate_needs_the_admin_token(app):
    session, base = app
    for path in ("/results", "/api/results", "/results?token=", "/api/results?token=wrong"):
        status, _, raw = request(base, "GET", path)
        assert status == 403 and b"admin token" in raw and b"careful" not in raw
    status, _, raw = request(base, "GET", f"/results?token={session.admin_token}")
    assert status == 200 and b"careful" in raw and b'name="viewport"' in raw
    summary = json.loads(request(base, "GET", f"/api/results?token={session.admin_token}")[2])
    assert summary["study"]["mode"] == "pairwise" and summary["judgements"] == 0
    assert b"/results" not in request(base, "GET", "/")[2] + request(base, "GET", "/static/rate.js")[2]


def test_an_unexpected_failure_is_a_neutral_500_that_reveals_nothing(app, caplog):
    session, base = app
    session.store.close()  # every query now fails inside the handler
    with caplog.at_level("ERROR", logger="cocoedit.viewer.server"):
        status, headers, raw = request(base, "GET", "/api/task?rater=ann")
    assert status == 500 and headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    assert json.loads(raw) == {"error": "internal error (the server's console has the details)"}
    assert "Traceback" in caplog.text and "ProgrammingError" in caplog.text  # the details stay on the server


def test_only_the_host_names_it_listens_on_are_answered(app):
    session, base = app
    port = urllib.parse.urlsplit(base).port
    task = json.loads(request(base, "GET", "/api/task?rater=ann")[2])["task"]
    body = {"rater": "ann", "task": task["id"], "ranking": [[0], [1]]}
    rebound = f"rebind.evil.example:{port}"  # the attacker's name, re-pointed at 127.0.0.1
    for path in ("/", "/api/task?rater=ann", task["source"]):
        status, headers, raw = request(base, "GET", path, headers={"Host": rebound})
        assert status == 421 and headers["Cache-Control"] == "no-store", path
        assert session.page_token.encode() not in raw
    status, _, _ = request(
        base,
        "POST",
        "/api/vote",
        json.dumps(body),
        {
            "Host": rebound,
            "Origin": f"http://{rebound}",
            "Content-Type": "application/json",
            TOKEN_HEADER: session.page_token,
        },
    )
    assert status == 421 and session.store.judgements() == []
    # A matching Origin by a name the server does not answer to is refused too.
    assert vote(base, session, body, Origin=f"http://{rebound}")[0] == 403
    for name in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
        assert request(base, "GET", "/", headers={"Host": name})[0] == 200, name
    assert vote(base, session, body, Host=f"localhost:{port}", Origin=f"http://localhost:{port}")[0] == 200
    assert request(base, "GET", "/", headers={"Host": "http://x/"})[0] == 421


def test_on_every_address_the_machine_names_and_addresses_are_answered(small_bench, tmp_path):
    import socket

    folders = [small_bench.results["careful"], small_bench.results["global"]]
    session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / "r.sqlite")
    with serving(create_app(session, host="0.0.0.0")) as base:
        port = urllib.parse.urlsplit(base).port
        for name in ("192.168.1.20", socket.gethostname(), "localhost"):
            assert request(base, "GET", "/", headers={"Host": f"{name}:{port}"})[0] == 200, name
        assert request(base, "GET", "/", headers={"Host": f"rebind.evil.example:{port}"})[0] == 421
    with serving(create_app(session, host="10.1.2.3")) as base:  # one address: that one only
        port = urllib.parse.urlsplit(base).port
        assert request(base, "GET", "/", headers={"Host": f"10.1.2.3:{port}"})[0] == 200
        assert request(base, "GET", "/", headers={"Host": f"127.0.0.1:{port}"})[0] == 421
    session.store.close()
