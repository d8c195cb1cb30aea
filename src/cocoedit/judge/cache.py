"""A local SQLite record of every judge reply, used as a cache.

Every reply (parsed or not) is appended to one table with its cache key; a lookup returns the
latest reply for the key that parsed. So an evaluation that crashed resumes where it stopped, a
re-run costs nothing, failed replies are retried on the next run, and every raw reply stays
available for audit (:meth:`JudgeCache.export_jsonl`).

The key is a SHA-256 over: the judge's model id, the image encoding, the template's name,
version and text hash, the images' content hashes in order, the instruction, and the sampling
settings. Change any of them and the old replies no longer match.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from cocoedit.core.errors import CocoEditError
from cocoedit.judge.client import JudgeReply
from cocoedit.judge.config import SamplingConfig
from cocoedit.judge.parsing import TokenLogprobs
from cocoedit.judge.prompts import JudgeTemplate

SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    model TEXT NOT NULL,
    template TEXT NOT NULL,
    image_hashes TEXT NOT NULL,
    instruction TEXT,
    sampling TEXT NOT NULL,
    text TEXT,
    tokens TEXT,
    finish_reason TEXT,
    parsed INTEGER NOT NULL,
    error TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS replies_key ON replies (key, parsed);
"""


def cache_key(
    model_id: str,
    encoding_id: str,
    template: JudgeTemplate,
    image_hashes: Sequence[str],
    instruction: str | None,
    sampling: SamplingConfig,
) -> str:
    payload = {
        "model": model_id,
        "encoding": encoding_id,
        "template": template.ident,
        "template_sha": template.text_sha,
        "text_first": template.text_first,
        "images": list(image_hashes),
        "instruction": instruction,
        "sampling": sampling.model_dump(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _tokens_json(tokens: tuple[TokenLogprobs, ...] | None) -> str | None:
    if tokens is None:
        return None
    return json.dumps([[t.token, t.top] for t in tokens])


def _tokens_from_json(raw: str | None) -> tuple[TokenLogprobs, ...] | None:
    if raw is None:
        return None
    return tuple(TokenLogprobs(tok, dict(top)) for tok, top in json.loads(raw))


class JudgeCacheError(CocoEditError):
    """The judge cache path is not a SQLite file (or cannot be opened)."""


class JudgeCache:
    """The SQLite reply store. Use from one thread (the event loop's)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_dir():
            raise JudgeCacheError(
                f"{self.path}: is a folder; give the judge cache a file name, e.g. {self.path / 'judge_cache.sqlite'}"
            )
        try:
            self._db = sqlite3.connect(self.path)
        except sqlite3.DatabaseError as e:
            raise JudgeCacheError(f"{self.path}: cannot open the judge cache ({e})") from None
        try:
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:  # "file is not a database": nothing was written to it
            self._db.close()
            raise JudgeCacheError(
                f"{self.path}: not a judge cache (SQLite) file ({e}); it was left unchanged. "
                "Give another path, or move the file away"
            ) from None

    def lookup(self, key: str) -> JudgeReply | None:
        """The latest reply stored under ``key`` that parsed, if any."""
        row = self._db.execute(
            "SELECT text, tokens, finish_reason FROM replies WHERE key = ? AND parsed = 1 ORDER BY id DESC LIMIT 1",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return JudgeReply(row[0], _tokens_from_json(row[1]), row[2])

    def record(
        self,
        key: str,
        *,
        model_id: str,
        template: JudgeTemplate,
        image_hashes: Sequence[str],
        instruction: str | None,
        sampling: SamplingConfig,
        reply: JudgeReply | None,
        error: str | None,
    ) -> None:
        """Append one reply (``reply=None`` for a call that got no reply; ``error`` says why)."""
        self._db.execute(
            "INSERT INTO replies (key, model, template, image_hashes, instruction, sampling, text, tokens,"
            " finish_reason, parsed, error, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                model_id,
                template.ident,
                json.dumps(list(image_hashes)),
                instruction,
                sampling.model_dump_json(),
                reply.text if reply else None,
                _tokens_json(reply.tokens) if reply else None,
                reply.finish_reason if reply else None,
                int(error is None),
                error,
                time.time(),
            ),
        )
        self._db.commit()

    def rows(self) -> Iterator[dict]:
        cursor = self._db.execute(
            "SELECT key, model, template, image_hashes, instruction, sampling, text, finish_reason, parsed, error,"
            " created FROM replies ORDER BY id"
        )
        names = [d[0] for d in cursor.description]
        for row in cursor:
            rec = dict(zip(names, row, strict=True))
            rec["image_hashes"] = json.loads(rec["image_hashes"])
            rec["sampling"] = json.loads(rec["sampling"])
            rec["parsed"] = bool(rec["parsed"])
            yield rec

    def export_jsonl(self, path: str | Path) -> int:
        """Write every stored reply as one JSON line; returns the number of lines."""
        n = 0
        with open(path, "w", encoding="utf-8") as f:
            for rec in self.rows():
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
        return n

    def close(self) -> None:
        self._db.close()
