"""The OpenAI-compatible client against a real scripted chat-completions server on 127.0.0.1."""

import asyncio
import base64
import io
import json
import time

import pytest
import torch
from PIL import Image

from cocoedit.judge.client import (
    JudgeCallError,
    JudgeUnavailableError,
    OpenAIJudgeBackend,
    chat_request_body,
    proxy_from_env,
)
from cocoedit.judge.config import EndpointConfig, SamplingConfig
from cocoedit.judge.images import JudgeImage
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply


def _image(value: float, h: int = 20, w: int = 30) -> JudgeImage:
    return JudgeImage.from_tensor(torch.full((3, h, w), value))


def _call(server, images, sampling=SamplingConfig(), **config):
    async def go():
        backend = OpenAIJudgeBackend(EndpointConfig(base_url=server.base_url, model=server.model, **config))
        try:
            return await backend.complete("judge this", images, sampling)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def _decoded(url: str) -> Image.Image:
    header, data = url.split(",", 1)
    assert header in ("data:image/png;base64", "data:image/jpeg;base64")
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_request_wire_format_images_in_order_and_size_cap():
    with ScriptedJudgeServer(ScriptedReply(text="fine")) as server:
        reply = _call(server, [_image(0.0), _image(1.0, 40, 80)], SamplingConfig(temperature=0.0, seed=3),
                      max_image_side=40, image_format="jpeg")
    assert reply.text == "fine" and reply.tokens is None and reply.finish_reason == "stop"
    assert server.invalid_requests == 0 and len(server.requests) == 1
    body = server.requests[0]
    assert body["temperature"] == 0.0 and body["seed"] == 3 and "logprobs" not in body
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    first, second = (_decoded(p["image_url"]["url"]) for p in parts[:2])
    assert first.getpixel((0, 0))[0] < 10 and second.getpixel((0, 0))[0] > 245  # source first
    assert second.size == (40, 20)  # longest side capped, aspect kept


def test_logprobs_are_requested_and_returned():
    with ScriptedJudgeServer(ScriptedReply(text="Score: 4", tokens=[("Score: ", {"Score: ": 0.0}), ("4", {"4": -0.1, "3": -2.4})])) as server:
        reply = _call(server, [_image(0.5)], SamplingConfig(top_logprobs=5))
    assert server.requests[0]["logprobs"] is True and server.requests[0]["top_logprobs"] == 5
    assert reply.tokens[1].top == {"4": -0.1, "3": -2.4}


@pytest.mark.parametrize("status", [500, 503, 429])
def test_transient_http_errors_are_retried(status):
    script = [ScriptedReply(status=status, retry_after_s=0.01), ScriptedReply(text="second time")]
    with ScriptedJudgeServer(script) as server:
        reply = _call(server, [_image(0.5)], max_retries=2, backoff_s=0.01)
    assert reply.text == "second time" and len(server.requests) == 2


def test_retry_after_is_honoured_over_the_backoff():
    script = [ScriptedReply(status=429, retry_after_s=0.05), ScriptedReply(text="now")]
    with ScriptedJudgeServer(script) as server:
        start = time.perf_counter()
        reply = _call(server, [_image(0.5)], max_retries=1, backoff_s=20.0)
    assert reply.text == "now" and time.perf_counter() - start < 5.0  # the 20 s backoff was not waited


def test_exhausted_retries_raise_with_a_reason():
    with ScriptedJudgeServer(ScriptedReply(status=500)) as server:
        with pytest.raises(JudgeCallError, match="HTTP 500: scripted HTTP 500.*after 3 attempts") as err:
            _call(server, [_image(0.5)], max_retries=2, backoff_s=0.0)
    assert err.value.reason == "http_500" and len(server.requests) == 3


def test_timeout_and_dropped_connection_are_reported():
    with ScriptedJudgeServer(ScriptedReply(text="late", delay_s=1.0)) as server:
        with pytest.raises(JudgeCallError) as err:
            _call(server, [_image(0.5)], timeout_s=0.2, max_retries=0)
    assert err.value.reason == "timeout"
    with ScriptedJudgeServer(ScriptedReply(drop_connection=True)) as server:
        with pytest.raises(JudgeCallError) as err:
            _call(server, [_image(0.5)], max_retries=1, backoff_s=0.0)
    assert err.value.reason == "connection" and len(server.requests) == 2


def test_client_errors_are_not_retried():
    with ScriptedJudgeServer(ScriptedReply(status=400)) as server:
        with pytest.raises(JudgeCallError) as err:
            _call(server, [_image(0.5)], max_retries=3)
    assert err.value.reason == "http_400" and len(server.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_credentials_stop_the_run(status):
    with ScriptedJudgeServer(ScriptedReply(status=status)) as server:
        with pytest.raises(JudgeUnavailableError, match=f"HTTP {status}"):
            _call(server, [_image(0.5)], max_retries=3)
    assert len(server.requests) == 1


def test_a_model_the_server_does_not_serve_stops_the_run():
    with ScriptedJudgeServer(ScriptedReply(text="ok"), model="judge-7b") as server:
        with pytest.raises(JudgeUnavailableError, match="HTTP 404.*not found"):
            asyncio.run(_complete_with(EndpointConfig(base_url=server.base_url, model="other")))


async def _complete_with(config):
    backend = OpenAIJudgeBackend(config)
    try:
        return await backend.complete("judge this", [_image(0.5)], SamplingConfig())
    finally:
        await backend.aclose()


@pytest.mark.parametrize(
    ("raw", "reason", "message"),
    [
        (b"<html>busy</html>", "bad_response", "not JSON"),
        (b'{"choices": []}', "empty_response", "no choices"),
        (b'{"id": "x"}', "bad_response", "no choices"),
        (b'{"choices": [{"index": 0, "finish_reason": "stop"}]}', "bad_response", r"no choices\[0\]\.message"),
        (b'{"choices": [{"message": {"content": 4}}]}', "bad_response", r"choices\[0\]\.message\.content of type int"),
        (b'{"choices": [{"message": {"content": "4"}, '
         b'"logprobs": {"content": [{"token": "4", "top_logprobs": [{"token": "4"}]}]}}]}',
         "bad_response", r"no choices\[0\]\.logprobs\.content\[0\]\.top_logprobs\[0\]\.logprob"),
    ],
)
def test_malformed_answers_fail_naming_the_field_and_are_not_retried(raw, reason, message):
    with ScriptedJudgeServer(ScriptedReply(raw_body=raw)) as server:
        with pytest.raises(JudgeCallError, match=message) as err:
            _call(server, [_image(0.5)], max_retries=3)
    assert err.value.reason == reason and len(server.requests) == 1


def test_a_null_content_is_an_empty_reply_not_a_failure():
    raw = b'{"choices": [{"message": {"role": "assistant", "content": null}, "finish_reason": "length"}]}'
    with ScriptedJudgeServer(ScriptedReply(raw_body=raw)) as server:
        reply = _call(server, [_image(0.5)])
    assert reply.text == "" and reply.finish_reason == "length" and reply.tokens is None


def test_request_body_is_the_json_of_the_request():
    url = _image(0.5).data_url("png", 95, None)
    prompt = 'Rate "this"\nedit \\ ok — ✓'
    body = json.loads(chat_request_body("judge", prompt, [url, url], SamplingConfig(seed=None, top_logprobs=4)))
    assert body == {
        "model": "judge", "temperature": 0.0, "top_p": 1.0, "max_tokens": 512, "logprobs": True, "top_logprobs": 4,
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "text", "text": prompt},
        ]}],
    }


@pytest.mark.parametrize(
    "url", ["https://example.com/a.png", 'data:image/png;base64,AA"}]}', "data:image/png;base64,A\\"]
)
def test_request_body_refuses_what_would_need_escaping(url):
    with pytest.raises(ValueError, match="not a base64 image data URL"):
        chat_request_body("judge", "p", [url], SamplingConfig())


def test_proxy_comes_from_the_environment_once(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert proxy_from_env("https://api.example.com/v1") == "http://proxy.internal:3128"
    assert proxy_from_env("http://127.0.0.1:8000/v1") is None
    with ScriptedJudgeServer(ScriptedReply(text="direct")) as server:  # NO_PROXY: straight to the server
        assert _call(server, [_image(0.5)]).text == "direct"


def test_health_check_messages():
    async def check(url, model):
        backend = OpenAIJudgeBackend(EndpointConfig(base_url=url, model=model, timeout_s=2))
        try:
            await backend.health_check()
        finally:
            await backend.aclose()

    with ScriptedJudgeServer(ScriptedReply(), model="judge-7b") as server:
        asyncio.run(check(server.base_url, "judge-7b"))
        with pytest.raises(JudgeUnavailableError, match="does not serve model 'other'.*judge-7b"):
            asyncio.run(check(server.base_url, "other"))
        url = server.base_url
    with pytest.raises(JudgeUnavailableError, match="not reachable.*vllm serve"):
        asyncio.run(check(url, "judge-7b"))  # the server is gone now


def test_api_key_comes_from_the_environment_and_is_never_in_the_config(monkeypatch):
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-secret-123")
    config = EndpointConfig(model="m", api_key_env="MY_JUDGE_KEY")
    assert "sk-secret" not in config.model_dump_json()
    with ScriptedJudgeServer(ScriptedReply(text="ok"), model="m") as server:
        config = config.model_copy(update={"base_url": server.base_url})

        async def go():
            backend = OpenAIJudgeBackend(config)
            try:
                await backend.complete("x", [_image(0.1)], SamplingConfig())
            finally:
                await backend.aclose()

        asyncio.run(go())
    assert server.headers[0]["authorization"] == "Bearer sk-secret-123"
