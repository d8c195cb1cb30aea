"""The OpenAI-compatible client (on ``openai.AsyncOpenAI``) against a real scripted chat-completions
server on 127.0.0.1: the request on the wire, retries by failure kind, an unreachable server, the
health check."""

import asyncio
import base64
import io
import time

import pytest
import torch
from PIL import Image

from cocoedit.core.errors import ServiceUnavailableError
from cocoedit.judge.client import JudgeCallError, JudgeUnavailableError, JudgeUnreachableError, OpenAIJudgeBackend
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
        reply = _call(
            server,
            [_image(0.0), _image(1.0, 40, 80)],
            SamplingConfig(temperature=0.0, seed=3),
            max_image_side=40,
            image_format="jpeg",
        )
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
    with ScriptedJudgeServer(
        ScriptedReply(text="Score: 4", tokens=[("Score: ", {"Score: ": 0.0}), ("4", {"4": -0.1, "3": -2.4})])
    ) as server:
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
        # The trainer stops on core's general error, which the judge's derive from.
        with pytest.raises(ServiceUnavailableError, match=f"HTTP {status}") as error:
            _call(server, [_image(0.5)], max_retries=3)
    assert isinstance(error.value, JudgeUnavailableError) and issubclass(JudgeUnreachableError, ServiceUnavailableError)
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


@pytest.mark.parametrize("raw", [b"<html>busy</html>", b"", b'{"choices": [{"message": {"content": "Edit'])
def test_unusable_bodies_are_retried_then_fail_as_bad_body(raw):
    with ScriptedJudgeServer(ScriptedReply(raw_body=raw)) as server:
        with pytest.raises(JudgeCallError, match="HTTP 200 with .*after 3 attempts") as err:
            _call(server, [_image(0.5)], max_retries=2, backoff_s=0.0)
    assert err.value.reason == "bad_body" and len(server.requests) == 3
    script = [ScriptedReply(raw_body=raw), ScriptedReply(text="whole")]
    with ScriptedJudgeServer(script) as server:
        assert _call(server, [_image(0.5)], max_retries=1, backoff_s=0.0).text == "whole"


@pytest.mark.parametrize(
    ("raw", "reason", "message"),
    [
        (b'{"choices": []}', "empty_response", "no choices"),
        (b'{"id": "x"}', "bad_response", "no choices"),
        (b'{"choices": [{"index": 0, "finish_reason": "stop"}]}', "bad_response", r"no choices\[0\]\.message"),
        (b'{"choices": [{"message": {"content": 4}}]}', "bad_response", r"choices\[0\]\.message\.content of type int"),
        (
            b'{"choices": [{"message": {"content": "4"}, '
            b'"logprobs": {"content": [{"token": "4", "top_logprobs": [{"token": "4"}]}]}}]}',
            "bad_response",
            r"no choices\[0\]\.logprobs\.content\[0\]\.top_logprobs\[0\]\.logprob",
        ),
    ],
)
def test_malformed_answers_fail_naming_the_field_and_are_not_retried(raw, reason, message):
    with ScriptedJudgeServer(ScriptedReply(raw_body=raw)) as server:
        with pytest.raises(JudgeCallError, match=message) as err:
            _call(server, [_image(0.5)], max_retries=3)
    assert err.value.reason == reason and len(server.requests) == 1


def test_missing_logprobs_have_their_own_reason_and_are_not_asked_again():
    with ScriptedJudgeServer(ScriptedReply(text="Score: 4", omit_logprobs=True)) as server:
        with pytest.raises(JudgeCallError, match="no log-probabilities") as err:
            _call(server, [_image(0.5)], SamplingConfig(top_logprobs=5), max_retries=3)
    assert err.value.reason == "no_logprobs" and len(server.requests) == 1


def test_a_null_content_is_an_empty_reply_not_a_failure():
    raw = b'{"choices": [{"message": {"role": "assistant", "content": null}, "finish_reason": "length"}]}'
    with ScriptedJudgeServer(ScriptedReply(raw_body=raw)) as server:
        reply = _call(server, [_image(0.5)])
    assert reply.text == "" and reply.finish_reason == "length" and reply.tokens is None


def test_the_request_on_the_wire_is_built_by_the_openai_client():
    prompt = 'Rate "this"\nedit \\ ok — ✓'
    image = _image(0.5)
    with ScriptedJudgeServer(ScriptedReply(text="ok")) as server:

        async def go():
            backend = OpenAIJudgeBackend(
                EndpointConfig(base_url=server.base_url, model=server.model, headers={"X-Team": "vision"})
            )
            try:
                return await backend.complete(prompt, [image, image], SamplingConfig(seed=None, top_logprobs=4))
            finally:
                await backend.aclose()

        asyncio.run(go())
    url = image.data_url("png", 95, 1024)
    body = server.requests[0]
    assert {k: v for k, v in body.items() if k != "messages"} == {
        "model": server.model,
        "temperature": 0.0,
        "top_p": 1.0,
        "max_tokens": 512,
        "logprobs": True,
        "top_logprobs": 4,
    }
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "text", "text": prompt},
            ],
        }
    ]
    assert server.headers[0]["x-team"] == "vision" and "openai" in server.headers[0]["user-agent"].lower()


def test_proxies_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with ScriptedJudgeServer(ScriptedReply(text="direct")) as server:  # NO_PROXY: straight to the server
        assert _call(server, [_image(0.5)]).text == "direct"


def test_an_unreachable_server_is_waited_for_then_stops_the_run():
    with ScriptedJudgeServer(ScriptedReply(text="ok")) as server:
        url = server.base_url
    start = time.perf_counter()
    with pytest.raises(JudgeUnreachableError, match="unreachable for .*unreachable_timeout_s = 0.5"):
        asyncio.run(
            _complete_with(
                EndpointConfig(base_url=url, model="m", unreachable_timeout_s=0.5, max_retries=0, backoff_s=0.05)
            )
        )
    assert 0.5 <= time.perf_counter() - start < 10  # waited past max_retries = 0, then gave up


def test_a_judge_that_comes_back_is_used_again():
    with ScriptedJudgeServer(ScriptedReply(text="ok"), model="m") as server:
        url, port = server.base_url, int(server.base_url.split(":")[2].split("/")[0])

    async def go():
        backend = OpenAIJudgeBackend(
            EndpointConfig(
                base_url=url, model="m", unreachable_timeout_s=30, max_retries=0, backoff_s=0.05, backoff_max_s=0.2
            )
        )
        try:
            call = asyncio.create_task(backend.complete("x", [_image(0.5)], SamplingConfig()))
            await asyncio.sleep(0.5)  # the server is down; the call waits
            assert not call.done()
            with ScriptedJudgeServer(ScriptedReply(text="back again"), model="m", port=port):
                return await asyncio.wait_for(call, 10)
        finally:
            await backend.aclose()

    assert asyncio.run(go()).text == "back again"


def _health(url, model, **config):
    async def check():
        backend = OpenAIJudgeBackend(EndpointConfig(base_url=url, model=model, timeout_s=2, **config))
        try:
            await backend.health_check()
        finally:
            await backend.aclose()

    asyncio.run(check())


def test_health_check_stops_on_a_model_the_server_does_not_list():
    with ScriptedJudgeServer(ScriptedReply(), model="judge-7b") as server:
        _health(server.base_url, "judge-7b")
        with pytest.raises(JudgeUnavailableError, match=r"serves \['judge-7b'\], not 'other'.*check_health: false"):
            _health(server.base_url, "other")


def test_health_check_warns_when_the_server_cannot_list_its_models(caplog):
    with ScriptedJudgeServer(ScriptedReply(), model="m", models_status=500) as server:
        _health(server.base_url, "m", max_retries=0)
    assert "HTTP 500 to GET /models" in caplog.text and "the first request will tell" in caplog.text


def test_health_check_stops_on_a_rejected_key_and_an_unreachable_server():
    with ScriptedJudgeServer(ScriptedReply(), model="m", models_status=401) as server:
        with pytest.raises(JudgeUnavailableError, match="rejected the API key"):
            _health(server.base_url, "m")
        url = server.base_url
    start = time.perf_counter()
    with pytest.raises(JudgeUnavailableError, match="not reachable.*vllm serve"):
        _health(url, "m", max_retries=1, backoff_s=0.05)  # the server is gone now: fail fast
    assert time.perf_counter() - start < 5


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
