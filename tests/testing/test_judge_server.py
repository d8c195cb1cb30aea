"""The scripted judge server (aiohttp.web) on the wire: routes and OpenAI-style errors, keep-alive,
headers, scripted statuses and dropped connections, large image requests, a prompt stop with a
request in flight, and a port reused after a stop."""

import base64
import http.client
import json
import threading
import time

import pytest

from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply


def chat(model="scripted-judge", image_bytes=0):
    content = [{"type": "text", "text": "Rate the edit."}]
    if image_bytes:
        data = base64.b64encode(b"\x89PNG" + b"\0" * image_bytes).decode()
        content.append({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}})
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 8}


def connect(server):
    return http.client.HTTPConnection("127.0.0.1", int(server.base_url.rsplit(":", 1)[1].split("/")[0]), timeout=10)


def post(connection, body, headers=None):
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection.request("POST", "/v1/chat/completions", payload, {"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), json.loads(response.read())


def test_completions_on_one_keep_alive_connection_with_headers_recorded():
    with ScriptedJudgeServer([ScriptedReply(text="Score: 4"), ScriptedReply(text="Score: 2")]) as server:
        connection = connect(server)
        first = post(connection, chat(), {"X-Trace": "a"})
        sock = connection.sock
        second = post(connection, chat(), {"X-Trace": "b"})
        assert connection.sock is sock  # the same TCP connection answered both
        connection.close()
    assert [s for s, _, _ in (first, second)] == [200, 200]
    assert [b["choices"][0]["message"]["content"] for _, _, b in (first, second)] == ["Score: 4", "Score: 2"]
    assert [h["x-trace"] for h in server.headers] == ["a", "b"] and len(server.requests) == 2


def test_models_route_unknown_routes_models_and_bodies_get_openai_style_errors():
    with ScriptedJudgeServer(ScriptedReply(text="x"), listed_models=["a", "b"]) as server:
        connection = connect(server)
        connection.request("GET", "/v1/models/")
        response = connection.getresponse()
        assert [m["id"] for m in json.loads(response.read())["data"]] == ["a", "b"]
        connection.request("GET", "/v1/nothing")
        response = connection.getresponse()
        assert response.status == 404 and json.loads(response.read())["error"]["message"] == "no route /v1/nothing"
        status, _, body = post(connection, chat(model="other"))
        assert status == 404 and body["error"]["message"] == "model 'other' not found"
        status, _, body = post(connection, {"model": "scripted-judge", "messages": [{"role": "nobody"}]})
        assert status == 400 and body["error"]["message"].startswith("invalid chat-completions request")
        status, _, _ = post(connection, b"{not json")
        assert status == 400
    assert server.invalid_requests == 2 and server.requests == []


def test_a_failing_models_route_and_a_scripted_status_with_retry_after():
    with ScriptedJudgeServer(ScriptedReply(status=429, retry_after_s=1.5), models_status=503) as server:
        connection = connect(server)
        connection.request("GET", "/v1/models")
        assert connection.getresponse().status == 503
        connection.close()
        status, headers, body = post(connect(server), chat())
    assert status == 429 and headers["Retry-After"] == "1.5" and body["error"]["code"] == 429


def test_a_dropped_connection_gets_no_answer():
    with ScriptedJudgeServer(ScriptedReply(drop_connection=True)) as server:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            post(connect(server), chat())
    assert len(server.requests) == 1


def test_requests_with_large_images_are_read():
    with ScriptedJudgeServer(ScriptedReply(text="ok")) as server:
        status, _, _ = post(connect(server), chat(image_bytes=3 * 1024 * 1024))  # a 4 MiB body
    assert status == 200 and len(server.requests) == 1


def test_stop_with_a_request_in_flight_is_prompt_and_the_port_can_be_reused():
    server = ScriptedJudgeServer(ScriptedReply(text="late", delay_s=30)).start()
    port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    outcome = []
    client = threading.Thread(target=lambda: outcome.append(_try_post(server)))
    client.start()
    while not server.requests:
        time.sleep(0.01)
    start = time.perf_counter()
    server.stop()
    assert time.perf_counter() - start < 2
    client.join(10)
    assert outcome and outcome[0] != 200  # cut off, not answered
    with ScriptedJudgeServer(ScriptedReply(text="back"), port=port) as again:
        status, _, body = post(connect(again), chat())
    assert status == 200 and body["choices"][0]["message"]["content"] == "back"


def _try_post(server):
    try:
        return post(connect(server), chat())[0]
    except (http.client.HTTPException, OSError) as e:
        return type(e).__name__
