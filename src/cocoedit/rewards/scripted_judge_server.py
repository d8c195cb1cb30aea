"""A scripted judge server on 127.0.0.1 that speaks the chat-completions wire format.

It is a real HTTP server (standard-library ``ThreadingHTTPServer``, one thread per connection)
for tests, benchmarks and dry runs of ``cocoedit eval judge`` without a GPU. Requests are
validated against the ``openai`` package's request types and answers are built from its
``ChatCompletion`` model, so both sides of the wire format are the real one.

What it answers is scripted per request by a :class:`ScriptedReply`: reply text, latency, an
HTTP error status (429 with ``Retry-After``, 500...), a dropped connection, explicit per-token
log-probabilities, or none. A script is either one reply for every request, a list consumed in
order (the last one repeats), or a function ``(request_body, index) -> ScriptedReply``.

Run it standalone (used by ``benchmarks/bench_judge.py``)::

    python -m cocoedit.rewards.scripted_judge_server --latency 0.2 --text "Editing effect: 4"
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydantic
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

_REQUEST_TYPE = pydantic.TypeAdapter(CompletionCreateParamsNonStreaming)
_TOKEN = re.compile(r"\d|[A-Za-z]+|\s+|[^\sA-Za-z\d]")


@dataclass(frozen=True)
class ScriptedReply:
    """How to answer one request.

    ``tokens`` gives explicit ``(token, {alternative: logprob})`` pairs for the logprobs field;
    when ``None`` and the request asks for log-probabilities, the text is split into simple
    tokens (each digit its own token) with the chosen token at log-probability 0, unless
    ``omit_logprobs``. ``status`` other than 200 sends an OpenAI-style error body instead.
    ``drop_connection`` closes the socket without answering.
    """

    text: str = ""
    delay_s: float = 0.0
    status: int = 200
    retry_after_s: float | None = None
    tokens: Sequence[tuple[str, dict[str, float]]] | None = None
    omit_logprobs: bool = False
    drop_connection: bool = False
    finish_reason: str = "stop"


Script = ScriptedReply | Sequence[ScriptedReply] | Callable[[dict, int], ScriptedReply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # many clients connect at once; the default backlog of 5 stalls them


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


def _auto_tokens(text: str) -> list[tuple[str, dict[str, float]]]:
    return [(t, {t: 0.0}) for t in _TOKEN.findall(text)]


class ScriptedJudgeServer:
    """``with ScriptedJudgeServer(script) as server: ... server.base_url ...``

    ``requests`` holds every validated request body in arrival order and ``headers`` their
    HTTP headers (lower-case names); ``invalid_requests`` counts bodies the ``openai`` request
    type rejected (answered with HTTP 400).
    """

    def __init__(self, script: Script, model: str = "scripted-judge", port: int = 0,
                 validate_requests: bool = True):
        """``validate_requests=False`` skips the openai request-type check (a few ms of CPU per
        request), for load benchmarks that measure the client, not the wire format."""
        self.script = script
        self.validate_requests = validate_requests
        self.model = model
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.invalid_requests = 0
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

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
                        "top_logprobs": [{"token": a, "logprob": lp, "bytes": list(a.encode())} for a, lp in top.items()],
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

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - silence per-request logging
                pass

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a scripted timeout)

            def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
                body = {"error": {"message": message, "type": "scripted_error", "code": status}}
                self._send(status, json.dumps(body).encode(), headers)

            def do_GET(self):  # noqa: N802 - http.server naming
                if self.path.rstrip("/") == "/v1/models":
                    data = {"object": "list", "data": [{"id": server.model, "object": "model", "created": 0, "owned_by": "cocoedit"}]}
                    self._send(200, json.dumps(data).encode())
                else:
                    self._error(404, f"no route {self.path}")

            def do_POST(self):  # noqa: N802 - http.server naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._error(404, f"no route {self.path}")
                    return
                try:
                    body = _validate_request(raw) if server.validate_requests else json.loads(raw)
                except (json.JSONDecodeError, pydantic.ValidationError) as e:
                    with server._lock:
                        server.invalid_requests += 1
                    self._error(400, f"invalid chat-completions request: {e}")
                    return
                if body["model"] != server.model:
                    self._error(404, f"model {body['model']!r} not found")
                    return
                reply = server._next(body, {k.lower(): v for k, v in self.headers.items()})
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.drop_connection:
                    self.close_connection = True
                    return
                if reply.status != 200:
                    headers = {"Retry-After": str(reply.retry_after_s)} if reply.retry_after_s is not None else None
                    self._error(reply.status, f"scripted HTTP {reply.status}", headers)
                    return
                self._send(200, server._completion(body, reply))

        return Handler

    def start(self) -> ScriptedJudgeServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> ScriptedJudgeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible judge server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default="scripted-judge")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--text", default="Editing effect: 4\nVisual quality: 5")
    parser.add_argument("--no-validate", action="store_true", help="skip the openai request-type check (benchmarks)")
    args = parser.parse_args()
    server = ScriptedJudgeServer(ScriptedReply(text=args.text, delay_s=args.latency), args.model, args.port,
                                 validate_requests=not args.no_validate)
    print(server.base_url, flush=True)  # the parent process reads the address from this line
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
