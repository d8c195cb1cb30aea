"""The rating app over real HTTP: blind tasks, answers stored and resumed per rater, bad
requests refused with a reason, the study fixed once recorded, the aggregate from the answers."""

import io
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from cocoedit.testing.http import serving
from cocoedit.viewer.ratings import RatingError, RatingStore
from cocoedit.viewer.server import TOKEN_HEADER, create_app, open_study

TOKEN = {}  # base URL -> the page token, read from the page as the browser does


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def pixels(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def post(url, body):
    base = url.split("/api/")[0]
    if base not in TOKEN:
        page = get(base + "/")[2].decode()
        TOKEN[base] = page.split('name="rating-token" content="')[1].split('"')[0]
    headers = {"Content-Type": "application/json", TOKEN_HEADER: TOKEN[base]}
    req = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_pairwise_study_is_blind_resumable_and_aggregated(small_bench, tmp_path):
    folders = [small_bench.results[n] for n in ("careful", "drifting", "global")]
    session, left_out = open_study(
        "gedit", small_bench.bench_dir, folders, tmp_path / "r.sqlite", seed=3, secret="fixed for this test"
    )
    assert left_out == [] and len(session.units) == 3 * 3  # 3 samples x 3 pairs
    with serving(create_app(session)) as base:
        _, kind, page = get(base + "/")
        assert kind.startswith("text/html") and b"/static/rate.js" in page
        status, _, raw = get(base + "/api/task?rater=ann")
        first = json.loads(raw)
        task = first["task"]
        assert first["progress"] == {"done": 0, "total": 9}
        text = raw.decode()
        assert not any(name in text for name in ("careful", "drifting", "global"))  # blind
        assert task["instruction"] and len(task["shown"]) == 2
        # The same unanswered task comes back on reload; its images are the real files.
        assert json.loads(get(base + "/api/task?rater=ann")[2])["task"]["id"] == task["id"]
        stored = session.store.task(task["id"])
        sample = session.samples[stored.sample_key]
        assert np.array_equal(pixels(get(base + task["source"])[2]), pixels(sample.source.read_bytes()))
        from cocoedit.eval.benchmarks import result_path

        # Results come at the source's size ("global" writes 1.5x larger images): resized as the metrics do.
        source_size = Image.open(sample.source).size
        for side, label in enumerate(stored.shown):
            expected = Image.open(result_path(session.folders[label], sample)).convert("RGB")
            expected = np.asarray(expected.resize(source_size, Image.BICUBIC))
            assert np.array_equal(pixels(get(base + task["shown"][side])[2]), expected)

        # Answer every task preferring whichever side holds "careful" (it never touches the keep region).
        answered = 0
        while True:
            current = json.loads(get(base + "/api/task?rater=ann")[2])["task"]
            if current is None:
                break
            shown = session.store.task(current["id"]).shown
            ranking = [[0], [1]] if shown[0] == "careful" else [[1], [0]] if shown[1] == "careful" else [[0, 1]]
            status, body = post(base + "/api/vote", {"rater": "ann", "task": current["id"], "ranking": ranking})
            assert status == 200
            answered += 1
            assert body["progress"] == {"done": answered, "total": 9}
        assert answered == 9
        sides = [session.store.task(t).shown for t in range(1, 10)]
        assert {s.index("careful") for s in sides if "careful" in s} == {0, 1}  # not always on one side

        # Bad requests.
        assert post(base + "/api/vote", {"rater": "ann", "task": task["id"], "ranking": [[0], [1]]})[0] == 409
        status, body = post(base + "/api/vote", {"rater": "bob", "task": task["id"], "ranking": [[0], [1]]})
        assert status == 400 and "another rater" in body["error"]
        bob = json.loads(get(base + "/api/task?rater=bob")[2])["task"]
        status, body = post(base + "/api/vote", {"rater": "bob", "task": bob["id"], "ranking": [[0], [0]]})
        assert status == 400 and "exactly once" in body["error"]
        status, body = post(base + "/api/vote", {"rater": "bob", "task": bob["id"], "ranking": [[0, 1, 2]]})
        assert status == 400
        with pytest.raises(urllib.error.HTTPError) as bad:
            get(base + "/api/task?rater=" + "x%20y")
        assert bad.value.code == 400

        results = json.loads(get(base + f"/api/results?token={session.admin_token}")[2])
        assert results["judgements"] == 9 and results["raters"] == {"ann": 9}
        best = results["standings"][0]
        assert best["label"] == "careful" and best["wins"] == 6 and best["win_rate"] == 1.0
        assert best["elo_low"] <= best["elo"] <= best["elo_high"]
        page = get(base + f"/results?token={session.admin_token}")[2].decode()
        assert "<td>careful</td>" in page and "95 % interval" in page
    session.store.close()

    # The file holds the study: reopening resumes it, a different set of folders is refused.
    again, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / "r.sqlite", seed=3)
    assert again.store.progress("ann", 9) == {"done": 9, "total": 9}
    assert again.store.next_task("ann", again.units, 3) is None
    again.store.close()
    with pytest.raises(RatingError, match="folders"):
        open_study("gedit", small_bench.bench_dir, folders[:2], tmp_path / "r.sqlite", seed=3)


def test_ranked_answers_read_back_as_folder_orders(small_bench, tmp_path):
    folders = [small_bench.results[n] for n in ("careful", "drifting", "global")]
    session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / "r.sqlite", mode="ranked")
    assert len(session.units) == 3
    task = session.store.next_task("ann", session.units, 0)
    order = [task.shown.index(n) for n in ("global", "careful", "drifting")]
    session.store.vote(task.id, "ann", [[p] for p in order])
    assert session.store.judgements()[0]["ranking"] == [["global"], ["careful"], ["drifting"]]
    assert isinstance(RatingStore(tmp_path / "r.sqlite").study()["folders"], dict)


def test_images_linked_out_of_their_folders_are_not_served(small_bench, tmp_path):
    import shutil

    bench, careful, drifting = tmp_path / "bench", tmp_path / "careful", tmp_path / "drifting"
    shutil.copytree(small_bench.bench_dir, bench)
    shutil.copytree(small_bench.results["careful"], careful)
    shutil.copytree(small_bench.results["drifting"], drifting)
    secret = tmp_path / "secret.png"
    shutil.copy(next(careful.rglob("*.png")), secret)
    for path in [p for p in bench.rglob("*.png") if not p.stem.endswith("_mask")] + list(drifting.rglob("*.png")):
        path.unlink()
        path.symlink_to(secret)  # every source and every "drifting" result points out of its folder
    session, _ = open_study("gedit", bench, [careful, drifting], tmp_path / "r.sqlite", seed=0)
    with serving(create_app(session)) as base:
        task = json.loads(get(base + "/api/task?rater=ann")[2])["task"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(base + task["source"])
        assert refused.value.code == 403 and b"link out of" in refused.value.read()
        shown = session.store.task(task["id"]).shown
        for side, label in enumerate(shown):
            if label == "careful":
                assert get(base + task["shown"][side])[0] == 200
            else:
                with pytest.raises(urllib.error.HTTPError) as refused:
                    get(base + task["shown"][side])
                assert refused.value.code == 403
    session.store.close()


def test_a_study_recorded_before_answers_had_kinds_reads_its_answers_as_rankings(tmp_path):
    import sqlite3

    old = sqlite3.connect(tmp_path / "old.sqlite")
    old.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, rater TEXT NOT NULL, unit TEXT NOT NULL,
            sample_key TEXT NOT NULL, category TEXT NOT NULL, shown TEXT NOT NULL, created REAL NOT NULL,
            UNIQUE (rater, unit));
        CREATE TABLE votes (task_id INTEGER PRIMARY KEY REFERENCES tasks (id), rater TEXT NOT NULL,
            ranking TEXT NOT NULL, created REAL NOT NULL);
        INSERT INTO meta VALUES ('mode', '"pairwise"'), ('folders', '{"a": "/a", "b": "/b"}'), ('seed', '0');
        INSERT INTO tasks VALUES (1, 'ann', 'k|a|b', 'k', 'c', '["b", "a"]', 1.0);
        INSERT INTO votes VALUES (1, 'ann', '[[1], [0]]', 2.0);
        """
    )
    old.commit()
    old.close()
    store = RatingStore(tmp_path / "old.sqlite")
    (answer,) = store.judgements()
    assert answer["kind"] == "rank" and answer["ranking"] == [["a"], ["b"]]
    assert store.secret() == "" and store.last_answer("ann") == 1  # the orders it handed out stay as they were
    # Resumed, it gets a secret (its sides could be worked out from the seed), said in one line.
    (notice,) = store.configure({"mode": "pairwise", "folders": {"a": "/a", "b": "/b"}, "seed": 0})
    assert "no secret" in notice and len(store.secret()) == 32
    assert store.task(1).shown == ("b", "a") and store.configure({"seed": 0}) == []
    store.close()
