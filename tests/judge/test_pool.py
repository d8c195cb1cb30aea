"""Several replicas of one judge (``judge.endpoints``) against real scripted servers on 127.0.0.1:
least-outstanding routing, a replica dying mid-run (every sample still judged by a real answer,
failures counted on that replica), a replica timing out repeatedly, and one that fails its health
check at start and is brought back by a later one."""

import asyncio

import pytest
import torch

from cocoedit.judge.client import JudgeCallError
from cocoedit.judge.config import EndpointConfig, JudgeConfig, SamplingConfig
from cocoedit.judge.evaluate import open_judge
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.pool import EndpointPool
from cocoedit.judge.prompts import reward_template
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply

TEXT = "Editing effect: 4\nVisual quality: 3"


def _pairs(n):
    gen = torch.Generator().manual_seed(0)
    return [
        {
            "source": JudgeImage.from_tensor(torch.rand(3, 8, 8, generator=gen)),
            "edited": JudgeImage.from_tensor(torch.rand(3, 8, 8, generator=gen)),
        }
        for _ in range(n)
    ]


def _config(urls, **endpoint):
    settings = {"model": "scripted-judge", "max_retries": 2, "backoff_s": 0.01, "recheck_s": 0.1, **endpoint}
    return JudgeConfig(endpoint=EndpointConfig(**settings), endpoints=urls, parse_retries=0)


def test_a_request_goes_to_the_replica_with_fewest_outstanding_requests():
    async def go():
        pool = EndpointPool(["a", "b", "c"], slots=2, eject_after=3, recheck_s=1.0, probe=None)
        first = [await pool.acquire() for _ in range(3)]
        pool.release(1)
        after_release = await pool.acquire()
        pool.release(0)
        pool.release(2)
        spread = [await pool.acquire() for _ in range(2)]
        return first, after_release, spread, [r.outstanding for r in pool.replicas]

    first, after_release, spread, outstanding = asyncio.run(go())
    assert first == [0, 1, 2]  # all idle: each takes one in turn
    assert after_release == 1  # b was the only one with nothing outstanding
    assert sorted(spread) == [0, 2] and outstanding == [1, 1, 1]


def test_a_slow_replica_gets_fewer_requests():
    slow, fast = ScriptedReply(text=TEXT, delay_s=0.3), ScriptedReply(text=TEXT, delay_s=0.01)
    with ScriptedJudgeServer(slow) as a, ScriptedJudgeServer(fast) as b, ScriptedJudgeServer(fast) as c:

        async def go():
            judge = await open_judge(_config([a.base_url, b.base_url, c.base_url], concurrency=2))
            try:
                return await asyncio.gather(*[judge.evaluate(reward_template("text"), p, "edit") for p in _pairs(30)])
            finally:
                await judge.aclose()

        outcomes = asyncio.run(go())
    assert all(o.ok for o in outcomes)
    assert len(a.requests) < min(len(b.requests), len(c.requests))
    assert len(a.requests) + len(b.requests) + len(c.requests) == 30


def test_a_replica_dying_mid_run_loses_no_sample_and_its_failures_are_counted():
    reply = ScriptedReply(text=TEXT, delay_s=0.02)
    with ScriptedJudgeServer(reply) as a, ScriptedJudgeServer(reply) as b:
        dying = ScriptedJudgeServer([reply] * 4 + [ScriptedReply(drop_connection=True, delay_s=0.05)]).start()

        async def go():
            judge = await open_judge(_config([a.base_url, b.base_url, dying.base_url], concurrency=2))
            try:
                calls = [asyncio.ensure_future(judge.evaluate(reward_template("text"), p, "edit")) for p in _pairs(60)]
                while len(dying.requests) < 5:  # it has started dropping requests: now it goes away
                    await asyncio.sleep(0.005)
                await asyncio.to_thread(dying.stop)
                return await asyncio.gather(*calls), judge.backend.endpoint_stats()
            finally:
                await judge.aclose()

        outcomes, stats = asyncio.run(go())
    assert [o.ok for o in outcomes] == [True] * 60 and {o.primary for o in outcomes} == {0.7}
    # Every score is a real answer: the replicas answered exactly as many requests as were scored
    # (the dying one at most its 4 scripted answers: one still in flight when it stopped is lost).
    alive, gone = stats[:2], stats[2]
    assert sum(s["answered"] for s in stats) == 60 == len(a.requests) + len(b.requests) + gone["answered"]
    assert all(s["failures"] == {} and s["in_rotation"] for s in alive)
    assert 1 <= gone["answered"] <= 4 and gone["failures"].get("connection", 0) >= 1
    assert gone["ejections"] == 1 and not gone["in_rotation"]


def test_a_replica_timing_out_repeatedly_leaves_the_rotation():
    with (
        ScriptedJudgeServer(ScriptedReply(text=TEXT)) as a,
        ScriptedJudgeServer(ScriptedReply(text=TEXT, delay_s=2.0)) as stuck,
    ):

        async def go():
            config = _config([a.base_url, stuck.base_url], concurrency=1, timeout_s=0.2, eject_after_failures=2)
            judge = await open_judge(config)
            try:
                outcomes = [await judge.evaluate(reward_template("text"), p, "edit") for p in _pairs(8)]
                return outcomes, judge.backend.endpoint_stats()
            finally:
                await judge.aclose()

        outcomes, stats = asyncio.run(go())
    assert all(o.ok for o in outcomes)
    assert stats[1]["failures"] == {"timeout": 2} and stats[1]["ejections"] == 1 and stats[1]["answered"] == 0
    assert stats[0]["answered"] == 8


def test_a_replica_down_at_start_is_checked_again_and_used_when_it_answers():
    with ScriptedJudgeServer(ScriptedReply(text=TEXT)) as gone:
        late_url = gone.base_url
    port = int(late_url.rsplit(":", 1)[1].split("/")[0])
    with ScriptedJudgeServer(ScriptedReply(text=TEXT, delay_s=0.01)) as a:

        async def go():
            judge = await open_judge(_config([a.base_url, late_url], max_retries=0))
            try:
                before = judge.backend.endpoint_stats()[1]["in_rotation"]
                with ScriptedJudgeServer(ScriptedReply(text=TEXT, delay_s=0.01), port=port) as late:
                    for _ in range(100):  # the next health check (every 0.1 s) brings it back
                        if judge.backend.endpoint_stats()[1]["in_rotation"]:
                            break
                        await asyncio.sleep(0.05)
                    await asyncio.gather(*[judge.evaluate(reward_template("text"), p, "e") for p in _pairs(10)])
                    return before, len(late.requests), judge.backend.endpoint_stats()
            finally:
                await judge.aclose()

        before, late_requests, stats = asyncio.run(go())
    assert before is False
    assert stats[1]["in_rotation"] and late_requests >= 3 and stats[1]["answered"] == late_requests


def test_the_last_replica_in_the_rotation_is_never_taken_out():
    with ScriptedJudgeServer(ScriptedReply(status=500)) as a:

        async def go():
            judge = await open_judge(_config([a.base_url], eject_after_failures=1, max_retries=2))
            try:
                with pytest.raises(JudgeCallError, match="after 3 attempts"):
                    await judge.backend.complete("x", [_pairs(1)[0]["source"]], SamplingConfig())
                return judge.backend.endpoint_stats()[0]
            finally:
                await judge.aclose()

        stats = asyncio.run(go())
    assert stats["in_rotation"] and stats["ejections"] == 0 and stats["failures"] == {"http_500": 3}
