"""A scripted judge server on 127.0.0.1 that speaks the chat-completions wire format.

It is a real HTTP/1.1 server (an ``aiohttp.web`` application on an event loop in its own thread,
keep-alive connections) for tests, benchmarks and dry runs of ``cocoedit eval judge`` without a
GPU; a thread-per-connection ``http.server`` spent ~0.8 ms of interpreter time per request, which
at 64 concurrent requests delayed the answers of each round by tens of milliseconds. Requests are
validated against the ``openai`` package's request types and answers are built from its
``ChatCompletion`` model, so both sides of the wire format are the real one.

What it answers is scripted per request by a :class:`ScriptedReply`: reply text, latency, an
HTTP error status (429 with ``Retry-After``, 500...), a dropped connection, a malformed answer,
explicit per-token log-probabilities, or none. A script is either one reply for every request, a list consumed in
order (the last one repeats), or a function ``(request_body, index) -> ScriptedReply``.

Run it standalone (used by ``benchmarks/bench_judge.py``)::

    python -m cocoedit.testing.judge_server --latency 0.2 --text "Editing effect: 4"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pydantic
from aiohttp import web
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

_REQUEST_TYPE = pydantic.TypeAdapter(CompletionCreateParamsNonStreaming)
_TOKEN = re.compile(r"\d|[A-Za-z]+|\s+|[^\sA-Za-z\d]")
#: Judge requests carry base64 images: far above aiohttp's 1 MiB default.
MAX_REQUEST_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ScriptedReply:
    """How to answer one request.

    ``tokens`` gives explicit ``(token, {alternative: logprob})`` pairs for the logprobs field;
    when ``None`` and the request asks for log-probabilities, the text is split into simple
    tokens (each digit its own token) with the chosen token at log-probability 0, unless
    ``omit_logprobs``. ``status`` other than 200 sends an OpenAI-style error body instead.
    ``drop_connection`` closes the socket without answering. ``raw_body`` is sent as it is with
    status 200 instead of a completion (a malformed answer).
    """

    text: str = ""
    delay_s: float = 0.0
    status: int = 200
    retry_after_s: float | None = None
    tokens: Sequence[tuple[str, dict[str, float]]] | None = None
    omit_logprobs: bool = False
    drop_connection: bool = False
    finish_reason: str = "stop"
    raw_body: bytes | None = None


Script = ScriptedReply | Sequence[ScriptedReply] | Callable[[dict, int], ScriptedReply]


def _validate_request(raw: bytes) -> dict:
    """The request body, checked against the openai request type.

    The type declares ``messages`` and content parts as iterables, which pydantic validates
    lazily; walking every validated iterable forces the check of each element.
    """
    body = json.loads(raw)

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)) or type(value).__name__ == "ValidatorIterator":
            for v in value:
                walk(v)

    walk(_REQUEST_TYPE.validate_python(body))
    return body


def latency_for(text: str, low: float, high: float) -> float:
    """A latency in ``[low, high]`` seconds fixed by ``text`` (the request's prompt): the benchmark
    computes the same numbers to know the ideal finishing time."""
    return low + (high - low) * zlib.crc32(text.encode("utf-8")) / 2**32


def _auto_tokens(text: str) -> list[tuple[str, dict[str, float]]]:
    return [(t, {t: 0.0}) for t in _TOKEN.findall(text)]


class ScriptedJudgeServer:
    """``with ScriptedJudgeServer(script) as server: ... server.base_url ...``

    ``requests`` holds every validated request body in arrival order and ``headers`` their
    HTTP headers (lower-case names); ``invalid_requests`` counts bodies the ``openai`` request
    type rejected (answered with HTTP 400).
    """

    def __init__(
        self,
        script: Script,
        model: str = "scripted-judge",
        port: int = 0,
        validate_requests: bool = True,
        models_status: int = 200,
        listed_models: Sequence[str] | None = None,
    ):
        """``validate_requests=False`` skips the openai request-type check (a few ms of CPU per
        request), for load benchmarks that measure the client, not the wire format.
        ``models_status`` other than 200 makes ``GET /models`` fail with that status;
        ``listed_models`` is what it lists (default: ``model``). ``port`` reuses a port, e.g. to
        bring a stopped server back at the same address."""
        self.script = script
        self.models_status = models_status
        self.listed_models = list(listed_models) if listed_models is not None else [model]
        self.validate_requests = validate_requests
        self.model = model
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.invalid_requests = 0
        self._lock = threading.Lock()
        # Listening now: base_url is known before start() and a client that connects early waits in
        # the backlog (standalone, the parent reads the address first); a stopped server's port can
        # be reused.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self._socket.listen(512)  # many clients connect at once
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/v1"

    def _next(self, body: dict, headers: dict[str, str]) -> ScriptedReply:
        with self._lock:
            index = len(self.requests)
            self.requests.append(body)
            self.headers.append(headers)
        if isinstance(self.script, ScriptedReply):
            return self.script
        if callable(self.script):
            return self.script(body, index)
        return self.script[min(index, len(self.script) - 1)]

    def _completion(self, body: dict, reply: ScriptedReply) -> bytes:
        logprobs = None
        if body.get("logprobs") and not reply.omit_logprobs:
            pairs = reply.tokens if reply.tokens is not None else _auto_tokens(reply.text)
            logprobs = {
                "content": [
                    {
                        "token": tok,
                        "logprob": top.get(tok, max(top.values(), default=0.0)),
                        "bytes": list(tok.encode()),
                        "top_logprobs": [
                            {"token": a, "logprob": lp, "bytes": list(a.encode())} for a, lp in top.items()
                        ],
                    }
                    for tok, top in pairs
                ]
            }
        completion = ChatCompletion.model_validate(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": reply.finish_reason,
                        "message": {"role": "assistant", "content": reply.text},
                        "logprobs": logprobs,
                    }
                ],
            }
        )
        return completion.model_dump_json(exclude_none=True).encode()

    # -- HTTP (aiohttp.web) ------------------------------------------------------------------------
    @staticmethod
    def _response(status: int, payload: bytes, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=status, body=payload, content_type="application/json", headers=headers)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        body = {"error": {"message": message, "type": "scripted_error", "code": status}}
        return self._response(status, json.dumps(body).encode(), headers)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        """Every route: the models list, chat completions, or an OpenAI-style 404."""
        path = request.path.rstrip("/")
        if request.method == "GET":
            if path == "/v1/models":
                if self.models_status != 200:
                    return self._error(self.models_status, "scripted failure of GET /models")
                data = {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": "cocoedit"} for m in self.listed_models
                    ],
                }
                return self._response(200, json.dumps(data).encode())
            return self._error(404, f"no route {path}")
        if request.method != "POST" or path != "/v1/chat/completions":
            return self._error(404, f"no route {path}")
        raw = await request.read()
        try:
            body = _validate_request(raw) if self.validate_requests else json.loads(raw)
        except (json.JSONDecodeError, pydantic.ValidationError) as e:
            with self._lock:
                self.invalid_requests += 1
            return self._error(400, f"invalid chat-completions request: {e}")
        if body["model"] != self.model:
            return self._error(404, f"model {body['model']!r} not found")
        reply = self._next(body, {name.lower(): value for name, value in request.headers.items()})
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.drop_connection:
            if request.transport is not None:
                request.transport.abort()  # no answer: the client sees the connection closed
            return web.Response()
        if reply.status != 200:
            extra = {"Retry-After": str(reply.retry_after_s)} if reply.retry_after_s is not None else None
            return self._error(reply.status, f"scripted HTTP {reply.status}", extra)
        if reply.raw_body is not None:
            return self._response(200, reply.raw_body)
        return self._response(200, self._completion(body, reply))

    async def _serve(self, ready: threading.Event | None = None) -> None:
        """Serve on the bound socket until :meth:`stop`; requests in flight then end within 50 ms."""
        self._stopped = asyncio.Event()
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{path:.*}", self._answer)
        # aiohttp reads a shutdown timeout of 0 as "wait for ever": requests in flight get 50 ms.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.05)
        await runner.setup()
        try:
            await web.SockSite(runner, self._socket, backlog=512).start()
            if ready is not None:
                ready.set()
            await self._stopped.wait()
        finally:
            await runner.cleanup()

    def start(self) -> ScriptedJudgeServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(ready),), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the scripted judge server did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
        self._socket.close()

    def __enter__(self) -> ScriptedJudgeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible judge server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default="scripted-judge")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--latency-max",
        type=float,
        default=None,
        help="with --latency: each answer waits between the two, fixed by the prompt (latency_for)",
    )
    parser.add_argument("--text", default="Editing effect: 4\nVisual quality: 5")
    parser.add_argument("--no-validate", action="store_true", help="skip the openai request-type check (benchmarks)")
    args = parser.parse_args()
    if args.latency_max is None:
        script: Script = ScriptedReply(text=args.text, delay_s=args.latency)
    else:

        def script(body: dict, index: int) -> ScriptedReply:
            prompt = next(part["text"] for part in body["messages"][-1]["content"] if part["type"] == "text")
            return ScriptedReply(text=args.text, delay_s=latency_for(prompt, args.latency, args.latency_max))

    server = ScriptedJudgeServer(script, args.model, args.port, validate_requests=not args.no_validate)
    print(server.base_url, flush=True)  # the parent process reads the address from this line
    asyncio.run(server._serve())


if __name__ == "__main__":
    main()
