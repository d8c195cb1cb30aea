"""The SQLite reply cache: re-runs cost nothing, failures are retried, raw replies exportable."""

import asyncio
import json

import torch

from cocoedit.judge.cache import JudgeCache
from cocoedit.judge.client import OpenAIJudgeBackend
from cocoedit.judge.config import EndpointConfig, SamplingConfig
from cocoedit.judge.evaluate import Judge
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.prompts import reward_template
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply

GOOD = "Editing effect: 5\nVisual quality: 4"


def _run(server, cache_path, instructions, sampling=SamplingConfig()):
    async def go():
        backend = OpenAIJudgeBackend(EndpointConfig(base_url=server.base_url, model=server.model))
        cache = JudgeCache(cache_path)
        judge = Judge(backend, sampling, parse_retries=0, cache=cache)
        src = JudgeImage.from_tensor(torch.zeros(3, 8, 8))
        try:
            return [await judge.evaluate(reward_template(), {"source": src, "edited": src}, i) for i in instructions]
        finally:
            await backend.aclose()
            cache.close()

    return asyncio.run(go())


def test_second_run_is_served_from_the_cache(tmp_path):
    db = tmp_path / "cache.sqlite"
    with ScriptedJudgeServer(ScriptedReply(text=GOOD)) as server:
        first = _run(server, db, ["a", "b"])
        second = _run(server, db, ["a", "b"])
        assert len(server.requests) == 2
        _run(server, db, ["a"], SamplingConfig(temperature=0.7))  # other sampling settings: a new key
        assert len(server.requests) == 3
    assert [o.cached for o in first] == [False, False] and [o.cached for o in second] == [True, True]
    assert [o.primary for o in second] == [0.9, 0.9]


def test_failures_are_stored_but_asked_again(tmp_path):
    db = tmp_path / "cache.sqlite"
    with ScriptedJudgeServer([ScriptedReply(text="no idea"), ScriptedReply(text=GOOD)]) as server:
        assert not _run(server, db, ["a"])[0].ok
        again = _run(server, db, ["a"])[0]
    assert again.ok and not again.cached and len(server.requests) == 2
    out = tmp_path / "replies.jsonl"
    cache = JudgeCache(db)
    assert cache.export_jsonl(out) == 2
    cache.close()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["no idea", GOOD]
    assert [r["parsed"] for r in rows] == [False, True] and rows[0]["error"].startswith("unparsable")
    assert rows[1]["template"] == "cocoedit-reward-text@1" and rows[1]["model"] == "scripted-judge"
