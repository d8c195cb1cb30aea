"""The human-rating store: one SQLite file per rating study, resumable, several raters.

A **study** is a benchmark, a set of results folders (label -> folder) and a mode:

* ``pairwise``: a unit is (sample, pair of folders); the rater picks the better result or a tie.
* ``ranked``: a unit is a sample; the rater orders every folder's result, best first.

For each rater the units come in an order shuffled by ``(secret, seed, rater)``, and the results of
a unit are shown in an order shuffled by ``(secret, seed, rater, unit)`` (left/right in pairwise
mode), so raters see neither folder names nor a fixed side. The **secret** is drawn when the study
is first recorded and never leaves the file (not even into the export): without it, the public
default seed and guessable folder names would let anyone with the code work out the sides.

A unit handed out is a row in ``tasks``; a reload hands out the same unanswered task again, and an
answer is a row in ``votes``. Answers are stored as groups of *display positions* and read back as
groups of folder labels (best first).

An answer has a **kind** (:data:`ANSWER_KINDS`): ``rank`` (an order with ties: "A is better",
"tie", a ranking), ``both_bad`` (pairwise only: neither result is acceptable; a tie for the
standings, kept apart in the export) or ``skip`` (the rater cannot tell; no ranking, left out of
the standings). A task is answered at most once: a second answer is refused. The rater's last answer
can be withdrawn (:meth:`RatingStore.undo`); it moves to ``withdrawn`` and the task comes back.

The file also keeps the **page token** the rating page sends with every answer (drawn on first use),
so a page left open across a restart of the server still saves.

Tables: ``meta`` (the study: bench, bench_dir, mode, folders, seed; the secret, the page token),
``tasks`` (id, rater, unit, sample key, category, shown labels in display order), ``votes`` (task
id, rater, kind, ranking, time), ``withdrawn`` (undone answers, with the time they were withdrawn).
"""

from __future__ import annotations

import json
import random
import re
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

from cocoedit.core.errors import CocoEditError
from cocoedit.eval.benchmarks import BenchSample

RatingMode = Literal["pairwise", "ranked"]
MODES = ("pairwise", "ranked")
AnswerKind = Literal["rank", "both_bad", "skip"]
ANSWER_KINDS = ("rank", "both_bad", "skip")
RATER_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
PRIVATE_KEYS = ("secret", "page_token")  # in ``meta`` but not part of the study

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rater TEXT NOT NULL,
    unit TEXT NOT NULL,
    sample_key TEXT NOT NULL,
    category TEXT NOT NULL,
    shown TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (rater, unit)
);
CREATE TABLE IF NOT EXISTS votes (
    task_id INTEGER PRIMARY KEY REFERENCES tasks (id),
    rater TEXT NOT NULL,
    ranking TEXT NOT NULL,
    created REAL NOT NULL,
    kind TEXT NOT NULL DEFAULT 'rank'
);
CREATE TABLE IF NOT EXISTS withdrawn (
    task_id INTEGER NOT NULL REFERENCES tasks (id),
    rater TEXT NOT NULL,
    ranking TEXT NOT NULL,
    created REAL NOT NULL,
    kind TEXT NOT NULL,
    withdrawn REAL NOT NULL
);
"""


class RatingError(CocoEditError):
    """A bad request to the store (unknown rater or task, malformed answer, mismatched study)."""


@dataclass(frozen=True)
class Unit:
    """One thing to rate: a sample and the folders compared on it."""

    ident: str
    sample_key: str
    category: str
    folders: tuple[str, ...]


@dataclass(frozen=True)
class Task:
    id: int
    rater: str
    sample_key: str
    category: str
    shown: tuple[str, ...]  # folder labels in display order (never sent to the rater)


def check_rater(rater: str) -> str:
    if not isinstance(rater, str) or not RATER_PATTERN.fullmatch(rater):
        raise RatingError(f"rater id {rater!r}: use 1-64 letters, digits or . _ @ -")
    return rater


def study_units(samples: Sequence[BenchSample], folders: Sequence[str], mode: RatingMode) -> list[Unit]:
    """Every unit of a study, in benchmark order."""
    if mode not in MODES:
        raise RatingError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if len(folders) < 2:
        raise RatingError("rating needs at least two results folders")
    units = []
    for s in samples:
        if mode == "ranked":
            units.append(Unit(s.key, s.key, s.category, tuple(folders)))
        else:
            for a, b in combinations(folders, 2):
                units.append(Unit(f"{s.key}|{a}|{b}", s.key, s.category, (a, b)))
    return units


def ranking_groups(ranking: Any, count: int) -> list[list[int]]:
    """Validate an answer: groups of display positions, best first, covering 0..count-1 once."""
    if not isinstance(ranking, list) or not all(isinstance(g, list) and g for g in ranking):
        raise RatingError("ranking must be a list of non-empty lists of positions, best first")
    flat = [p for g in ranking for p in g]
    if any(isinstance(p, bool) or not isinstance(p, int) for p in flat) or sorted(flat) != list(range(count)):
        raise RatingError(f"ranking must place each of the positions 0..{count - 1} exactly once, got {ranking!r}")
    return [list(g) for g in ranking]


class RatingStore:
    """The SQLite file of one study. Use from one thread (the server's event loop)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Serialized SQLite (threadsafety 3): the app uses it from its event loop, tools may read
            # from another thread.
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(votes)")}
            if "kind" not in columns:  # a study recorded before answers had kinds: all were rankings
                with self._db:
                    self._db.execute("ALTER TABLE votes ADD COLUMN kind TEXT NOT NULL DEFAULT 'rank'")
        except sqlite3.DatabaseError as e:
            raise RatingError(f"{self.path}: not a usable ratings file ({e})") from None

    def close(self) -> None:
        self._db.close()

    # -- the study --------------------------------------------------------------------------
    def study(self) -> dict[str, Any]:
        """The study as recorded (bench, bench_dir, mode, folders, seed), without its secret or token."""
        rows = self._db.execute("SELECT key, value FROM meta")
        return {k: json.loads(v) for k, v in rows if k not in PRIVATE_KEYS}

    def secret(self) -> str:
        """The study's shuffling secret ("" for a study recorded before studies had one)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        return "" if row is None else json.loads(row[0])

    def page_token(self) -> str:
        """The token the rating page sends with its answers: the study's, drawn on first use and kept
        in the file, so that a page opened before a restart of the server still saves."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'page_token'").fetchone()
        if row is not None:
            return json.loads(row[0])
        token = secrets.token_urlsafe(18)
        with self._db:
            self._db.execute("INSERT INTO meta (key, value) VALUES ('page_token', ?)", (json.dumps(token),))
        return token

    def configure(self, study: dict[str, Any], secret: str | None = None) -> list[str]:
        """Record the study and its secret (drawn when None) on first use; afterwards it must match
        (a clear error names the field). A study recorded before studies had a secret gets one now
        (tasks already handed out keep their sides). Returns notices for the console."""
        stored = self.study()
        if not stored:
            secret = secrets.token_hex(16) if secret is None else secret
            rows = [(k, json.dumps(v)) for k, v in study.items()] + [("secret", json.dumps(secret))]
            with self._db:
                self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", rows)
            return []
        for key, value in study.items():
            if stored.get(key) != value:
                raise RatingError(
                    f"{self.path} holds a study with {key} = {stored.get(key)!r}, not {value!r}; "
                    "use another --db for a new study"
                )
        if self.secret():
            return []
        with self._db:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('secret', ?)",
                (json.dumps(secrets.token_hex(16) if secret is None else secret),),
            )
        return [
            f"{self.path}: the study had no secret (recorded by an older cocoedit), so its sides could be worked "
            "out from the seed; drew one now for the tasks still to hand out"
        ]

    # -- tasks and votes --------------------------------------------------------------------
    def next_task(self, rater: str, units: Sequence[Unit], seed: int) -> Task | None:
        """The rater's unanswered task if there is one, else a new one; None when all are done.
        Orders are drawn from the study's secret, ``seed`` and the rater."""
        check_rater(rater)
        pending = self._db.execute(
            "SELECT t.id, t.sample_key, t.category, t.shown FROM tasks t LEFT JOIN votes v ON v.task_id = t.id "
            "WHERE t.rater = ? AND v.task_id IS NULL ORDER BY t.id LIMIT 1",
            (rater,),
        ).fetchone()
        if pending:
            return Task(pending[0], rater, pending[1], pending[2], tuple(json.loads(pending[3])))
        issued = {row[0] for row in self._db.execute("SELECT unit FROM tasks WHERE rater = ?", (rater,))}
        order = list(units)
        key = f"{self.secret()}:{seed}"
        random.Random(f"{key}:{rater}").shuffle(order)
        for unit in order:
            if unit.ident in issued:
                continue
            shown = list(unit.folders)
            random.Random(f"{key}:{rater}:{unit.ident}").shuffle(shown)
            with self._db:
                cur = self._db.execute(
                    "INSERT INTO tasks (rater, unit, sample_key, category, shown, created) VALUES (?, ?, ?, ?, ?, ?)",
                    (rater, unit.ident, unit.sample_key, unit.category, json.dumps(shown), time.time()),
                )
            return Task(int(cur.lastrowid), rater, unit.sample_key, unit.category, tuple(shown))
        return None

    def task(self, task_id: int) -> Task:
        row = self._db.execute(
            "SELECT id, rater, sample_key, category, shown FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
        if row is None:
            raise RatingError(f"no task {task_id}")
        return Task(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])))

    def vote(self, task_id: int, rater: str, ranking: Any, kind: AnswerKind = "rank") -> None:
        """Store the rater's answer to their task: ``rank`` with groups of display positions (best
        first), ``both_bad`` (pairwise tasks only) or ``skip``. A second answer is refused."""
        task = self.task(task_id)
        if task.rater != check_rater(rater):
            raise RatingError(f"task {task_id} belongs to another rater")
        if kind not in ANSWER_KINDS:
            raise RatingError(f"answer kind must be one of {', '.join(ANSWER_KINDS)}, got {kind!r}")
        if kind == "both_bad" and len(task.shown) != 2:
            raise RatingError("'both bad' is an answer to a pair; rank the results (ties allowed) or skip")
        if kind == "rank":
            groups: list[list[int]] | None = ranking_groups(ranking, len(task.shown))
        else:
            groups = [list(range(len(task.shown)))] if kind == "both_bad" else []
        try:
            with self._db:
                self._db.execute(
                    "INSERT INTO votes (task_id, rater, ranking, created, kind) VALUES (?, ?, ?, ?, ?)",
                    (task_id, rater, json.dumps(groups), time.time(), kind),
                )
        except sqlite3.IntegrityError:
            raise RatingError(f"task {task_id} is already answered") from None

    def last_answer(self, rater: str) -> int | None:
        """The task id of the rater's latest answer (the one Undo withdraws), or None."""
        row = self._db.execute(
            "SELECT task_id FROM votes WHERE rater = ? ORDER BY created DESC, task_id DESC LIMIT 1", (rater,)
        ).fetchone()
        return None if row is None else int(row[0])

    def undo(self, task_id: int, rater: str) -> None:
        """Withdraw the rater's latest answer, which must be to ``task_id``; the task comes back."""
        check_rater(rater)
        if self.last_answer(rater) != task_id:
            raise RatingError(f"task {task_id} is not {rater}'s latest answer; only the latest can be undone")
        with self._db:
            self._db.execute(
                "INSERT INTO withdrawn (task_id, rater, ranking, created, kind, withdrawn) "
                "SELECT task_id, rater, ranking, created, kind, ? FROM votes WHERE task_id = ?",
                (time.time(), task_id),
            )
            self._db.execute("DELETE FROM votes WHERE task_id = ?", (task_id,))

    def withdrawn_counts(self) -> dict[str, int]:
        """Answers withdrawn (Undo) per rater."""
        return dict(self._db.execute("SELECT rater, COUNT(*) FROM withdrawn GROUP BY rater").fetchall())

    def progress(self, rater: str, total: int) -> dict[str, int]:
        done = self._db.execute("SELECT COUNT(*) FROM votes WHERE rater = ?", (rater,)).fetchone()[0]
        return {"done": int(done), "total": total}

    def judgements(self) -> list[dict[str, Any]]:
        """Every answer with the folder labels in place of positions, oldest first. ``kind`` is the
        answer's kind; a skip has an empty ranking; ``unit`` names the sample and folders rated;
        ``issued`` is when the task was handed out."""
        rows = self._db.execute(
            "SELECT v.task_id, v.rater, t.sample_key, t.category, t.shown, v.ranking, v.created, v.kind, t.unit, "
            "t.created FROM votes v JOIN tasks t ON t.id = v.task_id ORDER BY v.created, v.task_id"
        )
        out = []
        for task_id, rater, key, category, shown, ranking, created, kind, unit, issued in rows:
            shown = json.loads(shown)
            groups = [[shown[p] for p in group] for group in json.loads(ranking)]
            out.append(
                {
                    "task": task_id,
                    "rater": rater,
                    "sample_key": key,
                    "category": category,
                    "shown": shown,
                    "ranking": groups,
                    "kind": kind,
                    "unit": unit,
                    "created": created,
                    "issued": issued,
                }
            )
        return out
