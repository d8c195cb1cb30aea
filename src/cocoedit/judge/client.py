"""Talking to an MLLM judge: images, sampling settings, and the OpenAI-compatible backend.

:class:`OpenAIJudgeBackend` speaks the chat-completions protocol that ``vllm serve``, SGLang
and hosted APIs all offer, over a shared aiohttp session (why not through the ``openai``
package's client: see the class). Images travel as base64 data URLs (PNG or JPEG, longest side
capped). Concurrency is bounded by a semaphore; each request has a timeout; timeouts, connection
errors, 429 and 5xx are retried with exponential backoff (honouring ``Retry-After``). An
exhausted request becomes a :class:`JudgeCallError` carrying a short ``reason`` (``timeout``,
``http_429``, ``http_500``, ``connection``, ``bad_response``...); it never becomes a score.

The API key is read from the environment variable named by ``api_key_env`` when the client is
built; it is never stored in configs, logged or written to reports. A local server needs no
key: when the variable is unset the placeholder ``EMPTY`` is sent (vLLM's convention).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from cocoedit.core.errors import CocoEditError
from cocoedit.judge.config import EndpointConfig, SamplingConfig
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.parsing import TokenLogprobs


class JudgeUnavailableError(CocoEditError):
    """The judge cannot be used at all (server down, key rejected, model not served)."""


class JudgeCallError(CocoEditError):
    """One judge request failed after its retries; ``reason`` is a short machine-readable tag."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class JudgeReply:
    """What the judge said: its text and, when requested, per-token top log-probabilities."""

    text: str
    tokens: tuple[TokenLogprobs, ...] | None
    finish_reason: str | None


class JudgeBackend(Protocol):
    """The one interface every judge backend offers (HTTP server or in-process model)."""

    @property
    def model_id(self) -> str: ...

    @property
    def encoding_id(self) -> str:
        """How images are encoded for the model; part of cache keys."""
        ...

    async def health_check(self) -> None: ...

    async def complete(self, prompt: str, images: Sequence[JudgeImage], sampling: SamplingConfig) -> JudgeReply: ...

    async def aclose(self) -> None: ...


def api_key_from_env(name: str) -> str:
    """The key in ``$name``, or vLLM's ``EMPTY`` placeholder when unset (a local server)."""
    value = os.environ.get(name, "").strip()
    return value or "EMPTY"


def proxy_from_env(url: str) -> str | None:
    """The proxy that ``HTTP(S)_PROXY`` / ``NO_PROXY`` name for ``url``, or None.

    Looked up once per backend: aiohttp's ``trust_env`` looks it up (and reads ``~/.netrc``) in
    a worker thread on every request, two thread hops that cost throughput at high concurrency.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _retry_after(headers) -> float | None:
    """``Retry-After`` in seconds, or None when absent or not a number (the HTTP-date form)."""
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error_detail(raw: bytes) -> str:
    """The ``error.message`` of an OpenAI-style error body, or the start of whatever was sent."""
    try:
        message = json.loads(raw)["error"]["message"]
        if isinstance(message, str):
            return message
    except (ValueError, KeyError, TypeError):
        pass
    return raw[:200].decode("utf-8", "replace") or "(empty body)"


def _field(container: object, name: str, kind: type | tuple[type, ...], where: str, optional: bool = False):
    """``container[name]`` checked to be a ``kind``; a :class:`JudgeCallError` naming the field if not.

    ``optional`` fields may be missing or null (then None is returned).
    """
    value = container.get(name) if isinstance(container, dict) else None
    if value is None:
        if optional:
            return None
        raise JudgeCallError("bad_response", f"the judge's answer has no {where}{name}")
    if not isinstance(value, kind):
        expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise JudgeCallError(
            "bad_response", f"the judge's answer has {where}{name} of type {type(value).__name__}, expected {expected}"
        )
    return value


def reply_from_completion(completion: object) -> JudgeReply:
    """The :class:`JudgeReply` in a decoded chat-completions answer.

    Only the fields the judge uses are read and type-checked: ``choices[0].message.content``,
    ``finish_reason`` and, when present, ``logprobs.content[].token/top_logprobs[].token/logprob``.
    A missing or mistyped one raises :class:`JudgeCallError` (``bad_response``) naming it; no
    choice at all is ``empty_response``.
    """
    if not isinstance(completion, dict):
        raise JudgeCallError("bad_response", f"the judge's answer is a JSON {type(completion).__name__}, not an object")
    choices = _field(completion, "choices", list, "")
    if not choices:
        raise JudgeCallError("empty_response", "the judge returned no choices")
    message = _field(choices[0], "message", dict, "choices[0].")
    text = _field(message, "content", str, "choices[0].message.", optional=True) or ""
    finish_reason = _field(choices[0], "finish_reason", str, "choices[0].", optional=True)
    logprobs = _field(choices[0], "logprobs", dict, "choices[0].", optional=True)
    content = _field(logprobs, "content", list, "choices[0].logprobs.", optional=True) if logprobs else None
    tokens = None
    if content:
        tokens = []
        for i, entry in enumerate(content):
            where = f"choices[0].logprobs.content[{i}]."
            top = {}
            for j, alt in enumerate(_field(entry, "top_logprobs", list, where, optional=True) or ()):
                alt_where = f"{where}top_logprobs[{j}]."
                top[_field(alt, "token", str, alt_where)] = float(_field(alt, "logprob", (int, float), alt_where))
            tokens.append(TokenLogprobs(_field(entry, "token", str, where), top))
        tokens = tuple(tokens)
    return JudgeReply(text, tokens, finish_reason)


def chat_request_body(model: str, prompt: str, image_urls: Sequence[str], sampling: SamplingConfig) -> bytes:
    """The chat-completions request as JSON bytes: one user message, the images in order, then the prompt.

    The base64 data URLs (:meth:`JudgeImage.data_url`) make up nearly all of the body and need no
    JSON escaping, so they are written as they are: ``json.dumps`` scanning them for characters to
    escape took ~0.1 ms per request, as much as the rest of the client's work. A URL holding one of
    the two characters that could end a JSON string early (a quote, a backslash) is refused; that
    check is a fast substring search, unlike a full pattern match, which cost as much as escaping.
    """
    fields: dict = {"model": model, "temperature": sampling.temperature, "top_p": sampling.top_p,
                    "max_tokens": sampling.max_tokens}
    if sampling.seed is not None:
        fields["seed"] = sampling.seed
    if sampling.top_logprobs:
        fields["logprobs"] = True
        fields["top_logprobs"] = sampling.top_logprobs
    parts = []
    for url in image_urls:
        if not url.startswith("data:image/") or '"' in url or "\\" in url:
            raise ValueError(f"not a base64 image data URL: {url[:60]!r}")
        parts.append(f'{{"type": "image_url", "image_url": {{"url": "{url}"}}}}')
    parts.append(json.dumps({"type": "text", "text": prompt}))
    messages = f'[{{"role": "user", "content": [{", ".join(parts)}]}}]'
    return f'{json.dumps(fields)[:-1]}, "messages": {messages}}}'.encode()


class _RetryableError(Exception):
    """One attempt failed in a way a later attempt may not (timeout, connection, 429, 5xx)."""

    def __init__(self, reason: str, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


class OpenAIJudgeBackend:
    """A judge behind any OpenAI-compatible chat-completions endpoint.

    It speaks the protocol over one shared aiohttp session rather than through the ``openai``
    package's client: that client spent 1.6-2.5 ms of CPU per request building the request and
    parsing the answer into pydantic models, which at 64 concurrent requests made the client, not
    the judge, the bottleneck (``benchmarks/bench_judge.py``, docs/judge.md). The answer is read
    with plain ``json`` and only the fields we use are checked (:func:`reply_from_completion`);
    the tests check the requests against the ``openai`` package's request types on the server side.
    """

    def __init__(self, config: EndpointConfig):
        self.config = config
        self._base_url = config.base_url.rstrip("/")
        # The key is read once here and lives only in the session's default headers.
        self._headers = {"Authorization": f"Bearer {api_key_from_env(config.api_key_env)}"}
        self._proxy = proxy_from_env(self._base_url)
        self._slots = asyncio.Semaphore(config.concurrency)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Built on first use: an aiohttp session belongs to the running event loop, and callers
        # build the backend before or inside theirs.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.config.concurrency),
                headers=self._headers,
            )
        return self._session

    @property
    def model_id(self) -> str:
        return self.config.model

    @property
    def encoding_id(self) -> str:
        c = self.config
        quality = f"q{c.jpeg_quality}" if c.image_format == "jpeg" else ""
        return f"{c.image_format}{quality}-max{c.max_image_side}"

    async def health_check(self) -> None:
        """Check the server answers and serves ``model``; raise :class:`JudgeUnavailableError` if not."""
        url, model = self._base_url, self.config.model
        timeout = aiohttp.ClientTimeout(total=min(10.0, self.config.timeout_s))
        try:
            async with self._http().get(f"{url}/models", proxy=self._proxy, timeout=timeout) as response:
                status, raw = response.status, await response.read()
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as e:
            raise JudgeUnavailableError(
                f"judge server at {url} is not reachable ({type(e).__name__}: {e}). Is it running? "
                "For a local judge: vllm serve Qwen/Qwen2.5-VL-7B-Instruct --port 8000 (see docs/judge.md)"
            ) from None
        if status == 401:
            raise JudgeUnavailableError(
                f"judge server at {url} rejected the API key (401); set it in ${self.config.api_key_env}"
            )
        if status == 404:
            return  # some servers do not list models; the first request will tell
        if status != 200:
            raise JudgeUnavailableError(f"judge server at {url} answered HTTP {status} to GET /models")
        try:
            served = [entry["id"] for entry in json.loads(raw)["data"]]
        except (ValueError, KeyError, TypeError):
            raise JudgeUnavailableError(
                f"judge server at {url} answered GET /models with no model list: {raw[:200]!r}"
            ) from None
        if model not in served:
            raise JudgeUnavailableError(f"judge server at {url} does not serve model {model!r}; it serves {served}")

    async def _image_urls(self, images: Sequence[JudgeImage]) -> list[str]:
        c = self.config
        # Encoding runs in worker threads (PIL releases the GIL), off the event loop that
        # drives every other request.
        key = (c.image_format, c.jpeg_quality, c.max_image_side)
        if all(im.has_data_url(*key) for im in images):  # memoised: a thread hop would cost more
            return [im.data_url(*key) for im in images]
        return await asyncio.gather(*[asyncio.to_thread(im.data_url, *key) for im in images])

    async def _once(self, body: bytes) -> JudgeReply:
        c = self.config
        try:
            async with self._http().post(
                f"{self._base_url}/chat/completions",
                data=body,
                headers={"Content-Type": "application/json"},
                proxy=self._proxy,
                timeout=aiohttp.ClientTimeout(total=c.timeout_s),
            ) as response:
                status, raw = response.status, await response.read()
                headers = response.headers
        # aiohttp's timeouts subclass both TimeoutError and ClientConnectionError: test them first.
        except TimeoutError:
            raise _RetryableError("timeout", f"no reply within {c.timeout_s} s") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as e:
            raise _RetryableError("connection", f"connection lost: {type(e).__name__}: {e}") from None
        if status in (401, 403, 404):
            raise JudgeUnavailableError(f"judge at {c.base_url} answered HTTP {status}: {_error_detail(raw)}")
        if status != 200:
            reason, message = f"http_{status}", f"HTTP {status}: {_error_detail(raw)}"
            if status == 429 or status >= 500:
                raise _RetryableError(reason, message, _retry_after(headers))
            raise JudgeCallError(reason, message)
        try:
            completion = json.loads(raw)
        except ValueError:
            raise JudgeCallError("bad_response", f"the judge's answer is not JSON: {raw[:200]!r}") from None
        return reply_from_completion(completion)

    async def complete(self, prompt: str, images: Sequence[JudgeImage], sampling: SamplingConfig) -> JudgeReply:
        """One judge reply, retrying transport failures; raises :class:`JudgeCallError` when exhausted.

        Timeouts, connection errors, 429 and 5xx are retried with exponential backoff (jittered,
        honouring ``Retry-After``). Other 4xx and malformed answers fail at once; 401/403/404
        raise :class:`JudgeUnavailableError`: no retry can fix them.
        """
        c = self.config
        async with self._slots:
            body = chat_request_body(c.model, prompt, await self._image_urls(images), sampling)
            for attempt in range(c.max_retries + 1):
                try:
                    return await self._once(body)
                except _RetryableError as e:
                    if attempt == c.max_retries:
                        raise JudgeCallError(e.reason, f"{e} (after {attempt + 1} attempts)") from None
                    backoff = min(c.backoff_max_s, c.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
                    wait = e.retry_after_s
                    await asyncio.sleep(min(c.backoff_max_s, wait) if wait is not None else backoff)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
