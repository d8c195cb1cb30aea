"""A judge that cannot work fails once, at start, with the server's reason: a model missing from
``GET /models`` (tested in test_client.py), or, when the server cannot list its models, the first
refusal of a request (not retried for every sample); a slow model list is a warning bounded by
``endpoint.health_timeout_s``, not "unreachable"."""

import asyncio
import json

import pytest
import torch
from aiohttp import web

from cocoedit.judge.client import JudgeUnavailableError
from cocoedit.judge.config import EndpointConfig, JudgeConfig, SamplingConfig
from cocoedit.judge.evaluate import open_judge
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.prompts import reward_template
from cocoedit.testing.http import serving
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply


def _pairs(n):
    return [
        {
            "source": JudgeImage.from_tensor(torch.full((3, 8, 8), i / n)),
            "edited": JudgeImage.from_tensor(torch.ones(3, 8, 8)),
        }
        for i in range(n)
    ]


def _judge_all(config, n, template="text"):
    async def go():
        judge = await open_judge(config)
        try:
            return await asyncio.gather(*[judge.evaluate(reward_template(template), p, "edit") for p in _pairs(n)])
        finally:
            await judge.aclose()

    return asyncio.run(go())


def _config(url, **endpoint):
    settings = {"model": "scripted-judge", "max_retries": 4, "backoff_s": 0.01, "concurrency": 4, **endpoint}
    return JudgeConfig(endpoint=EndpointConfig(base_url=url, **settings), parse_retries=0)


@pytest.mark.parametrize("status", [500, 400, 422])
def test_a_refused_first_request_stops_once_with_the_servers_reason(status):
    # transformers serve answers a model id it cannot load with an error, and lists other models or
    # none; every request would fail alike, five times each.
    with ScriptedJudgeServer(ScriptedReply(status=status), models_status=500) as server:
        with pytest.raises(JudgeUnavailableError, match=f"refused the first request.*HTTP {status}: scripted HTTP"):
            _judge_all(_config(server.base_url), 20)
    assert len(server.requests) <= 4  # the first wave in flight, nothing retried, nothing after


def test_once_the_model_is_listed_a_first_500_is_retried():
    with ScriptedJudgeServer(
        [ScriptedReply(status=500), ScriptedReply(text="Editing effect: 5\nVisual quality: 5")]
    ) as server:
        outcomes = _judge_all(_config(server.base_url, concurrency=1), 1)
    assert outcomes[0].ok and len(server.requests) == 2


def test_once_a_request_was_answered_a_later_refusal_is_one_samples_failure():
    script = [ScriptedReply(text="Editing effect: 5\nVisual quality: 5"), ScriptedReply(status=400)]
    with ScriptedJudgeServer(script, models_status=500) as server:
        outcomes = _judge_all(_config(server.base_url, concurrency=1), 3)
    assert [o.ok for o in outcomes] == [True, False, False] and outcomes[1].reason == "http_400"


def test_a_server_ignoring_logprobs_stops_the_logprobs_mode_at_once():
    with ScriptedJudgeServer(
        ScriptedReply(text="Editing effect: 4\nVisual quality: 4", omit_logprobs=True), models_status=404
    ) as server:
        with pytest.raises(JudgeUnavailableError, match="no log-probabilities.*text reward mode"):
            _judge_all(_config(server.base_url), 12, "logprobs")
    assert len(server.requests) <= 4


def _slow_model_list(delay_s):
    async def models(request):
        await asyncio.sleep(delay_s)
        return web.json_response(
            {"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "x"}]}
        )

    async def chat(request):
        body = await request.json()
        answer = {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
        }
        return web.Response(text=json.dumps(answer), content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    return app


def _health_then_complete(url, **endpoint):
    async def go():
        judge = await open_judge(
            JudgeConfig(endpoint=EndpointConfig(base_url=url, model="m", max_retries=0, **endpoint))
        )
        try:
            return await judge.backend.complete("x", [], SamplingConfig())
        finally:
            await judge.aclose()

    return asyncio.run(go())


def test_a_slow_model_list_is_a_warning_bounded_by_the_health_timeout(caplog):
    with serving(_slow_model_list(1.0)) as url:
        assert _health_then_complete(url + "/v1", health_timeout_s=0.2).text == "ok"
        assert "did not list its models within 0.2 s (endpoint.health_timeout_s)" in caplog.text
        caplog.clear()
        assert _health_then_complete(url + "/v1", health_timeout_s=5).text == "ok"
        assert "did not list" not in caplog.text
