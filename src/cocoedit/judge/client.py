"""Talking to an MLLM judge over the OpenAI-compatible chat-completions protocol.

:class:`OpenAIJudgeBackend` sends requests with the ``openai`` package's ``AsyncOpenAI`` client
(the client users know: OpenAI, Azure, vLLM and SGLang all take its base URL, key and headers;
request bodies are built by the library), and reads each answer strictly itself: the raw body is
parsed with ``json`` and only the fields used are checked (:func:`reply_from_completion`), so a
malformed answer fails with the field named instead of becoming a half-empty reply.

Failures and what happens to them (the ``reason`` tags are what callers count):

* the server cannot be reached at all (connection refused, DNS, connect timeout): retried with
  backoff for as long as the judge has been unreachable less than ``unreachable_timeout_s``, then
  :class:`JudgeUnreachableError` (the run stops; nothing is scored meanwhile);
* ``timeout`` (no answer in ``timeout_s``), ``connection`` (a dropped connection), ``http_429``,
  ``http_5xx`` and ``bad_body`` (an HTTP 200 whose body is empty, HTML or truncated JSON): retried
  up to ``max_retries`` times with jittered exponential backoff, honouring ``Retry-After``;
* ``http_4xx`` (other client errors), ``empty_response`` (no choice), ``bad_response`` (a JSON
  answer missing a field) and ``no_logprobs`` (log-probabilities asked for and not returned):
  not retried — asking again would get the same answer;
* HTTP 401/403/404: :class:`JudgeUnavailableError` — no retry can fix a rejected key or a model
  the server does not serve.

An exhausted or unretried request becomes a :class:`JudgeCallError` carrying its reason; it never
becomes a score. The API key is read from the environment variable named by ``api_key_env`` when
the backend is built and is never stored in configs, logged or written to reports; a local server
needs none (the placeholder ``EMPTY`` is sent when the variable is unset, vLLM's convention).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import openai

from cocoedit.core.errors import CocoEditError, ServiceUnavailableError
from cocoedit.judge.config import EndpointConfig, SamplingConfig
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.parsing import TokenLogprobs

logger = logging.getLogger("cocoedit.judge")


class JudgeUnavailableError(ServiceUnavailableError):
    """The judge cannot be used at all (key rejected, model not served, no model given)."""


class JudgeUnreachableError(JudgeUnavailableError):
    """The judge server could not be reached for longer than ``unreachable_timeout_s``."""


class JudgeCallError(CocoEditError):
    """One judge request failed (after its retries, if any); ``reason`` is a short tag."""

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

    async def complete(
        self, prompt: str, images: Sequence[JudgeImage], sampling: SamplingConfig, text_first: bool = False
    ) -> JudgeReply:
        """One reply to one user message: the images then the prompt, or with ``text_first`` the
        prompt then the images."""
        ...

    async def aclose(self) -> None: ...


def api_key_from_env(name: str) -> str:
    """The key in ``$name``, or vLLM's ``EMPTY`` placeholder when unset (a local server)."""
    value = os.environ.get(name, "").strip()
    return value or "EMPTY"


def _retry_after(headers) -> float | None:
    """``Retry-After`` in seconds, or None when absent or not a number (the HTTP-date form)."""
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error_detail(error: openai.APIStatusError) -> str:
    """The ``error.message`` of an OpenAI-style error body, or the start of whatever was sent."""
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner.get("message"), str):
            return inner["message"]
    text = error.response.text if error.response is not None else ""
    return text[:200] or "(empty body)"


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


class _Retryable(Exception):
    """One attempt failed in a way a later attempt may not."""

    def __init__(self, reason: str, message: str, retry_after_s: float | None = None, unreachable: bool = False):
        super().__init__(message)
        self.reason, self.retry_after_s, self.unreachable = reason, retry_after_s, unreachable


def _unreachable(error: openai.APIConnectionError) -> bool:
    """Whether a connection error means the server could not be reached at all (refused, DNS,
    connect timeout), as opposed to a connection that broke during a request."""
    cause = error.__cause__
    return type(cause).__name__ in ("ConnectError", "ConnectTimeout")


class OpenAIJudgeBackend:
    """A judge behind any OpenAI-compatible chat-completions endpoint (see the module doc)."""

    def __init__(self, config: EndpointConfig):
        if not config.model:
            raise JudgeUnavailableError("no judge model given: set endpoint.model (or pass --model)")
        self.config = config
        # The key is read once here and lives only in the client.
        self._client = openai.AsyncOpenAI(
            api_key=api_key_from_env(config.api_key_env),
            base_url=config.base_url.rstrip("/"),
            max_retries=0,  # retries are ours: each failure is classified and counted
            timeout=config.timeout_s,
            default_headers=dict(config.headers) or None,
        )
        self._slots = asyncio.Semaphore(config.concurrency)
        self._unreachable_since: float | None = None

    @property
    def model_id(self) -> str:
        return self.config.model

    @property
    def encoding_id(self) -> str:
        c = self.config
        quality = f"q{c.jpeg_quality}" if c.image_format == "jpeg" else ""
        return f"{c.image_format}{quality}-max{c.max_image_side}"

    def _hint(self) -> str:
        return "Is it running? For a local judge: vllm serve Qwen/Qwen2.5-VL-7B-Instruct --port 8000 (docs/judge.md)"

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        c = self.config
        if retry_after_s is not None:
            return min(c.backoff_max_s, retry_after_s)
        return min(c.backoff_max_s, c.backoff_s * 2**attempt) * (0.5 + random.random() / 2)

    def _still_unreachable(self, error: Exception) -> None:
        """Note that the server is unreachable now; raise once it has been for too long."""
        now = time.monotonic()
        if self._unreachable_since is None:
            self._unreachable_since = now
        down = now - self._unreachable_since
        if down >= self.config.unreachable_timeout_s:
            raise JudgeUnreachableError(
                f"judge server at {self.config.base_url} unreachable for {down:.0f} s "
                f"(endpoint.unreachable_timeout_s = {self.config.unreachable_timeout_s:g}): {error}. " + self._hint()
            ) from None

    async def health_check(self) -> None:
        """Check that the server answers before the first request, retrying ``max_retries``
        times: a server that cannot be reached at start is more likely a wrong address than a
        restart, so it fails fast (mid-run, requests wait ``unreachable_timeout_s`` instead). A
        model missing from ``/models`` (or a server that cannot list its models) is a warning."""
        c, url = self.config, self.config.base_url
        attempt = 0
        while True:
            try:
                page = await self._client.models.list(timeout=min(10.0, c.timeout_s))
                self._unreachable_since = None
                break
            except openai.APIConnectionError as e:
                if attempt >= c.max_retries:
                    raise JudgeUnavailableError(
                        f"judge server at {url} is not reachable ({e.__cause__ or e}). " + self._hint()
                    ) from None
            except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
                raise JudgeUnavailableError(
                    f"judge server at {url} rejected the API key (HTTP {e.status_code}); set it in ${c.api_key_env}"
                ) from None
            except openai.APIStatusError as e:
                logger.warning(
                    "judge server at %s answered HTTP %s to GET /models (%s); going on: the first "
                    "request will tell whether it serves %r",
                    url,
                    e.status_code,
                    _error_detail(e),
                    c.model,
                )
                return
            except openai.APIError as e:  # a list that is not a list
                logger.warning("judge server at %s answered GET /models with no model list (%s); going on", url, e)
                return
            await asyncio.sleep(self._backoff(attempt, None))
            attempt += 1
        served = [m.id for m in page.data]
        if c.model not in served:
            logger.warning(
                "judge server at %s does not list model %r among %s; going on: the first request "
                "will tell whether it serves it",
                url,
                c.model,
                served,
            )

    async def _image_urls(self, images: Sequence[JudgeImage]) -> list[str]:
        c = self.config
        # Encoding runs in worker threads (PIL releases the GIL), off the event loop that
        # drives every other request.
        key = (c.image_format, c.jpeg_quality, c.max_image_side)
        if all(im.has_data_url(*key) for im in images):  # memoised: a thread hop would cost more
            return [im.data_url(*key) for im in images]
        return await asyncio.gather(*[asyncio.to_thread(im.data_url, *key) for im in images])

    async def _once(self, messages: list, sampling: SamplingConfig) -> JudgeReply:
        c = self.config
        extra = {"seed": sampling.seed} if sampling.seed is not None else {}
        if sampling.top_logprobs:
            extra.update(logprobs=True, top_logprobs=sampling.top_logprobs)
        try:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=c.model,
                messages=messages,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
                **extra,
            )
        except openai.APITimeoutError:
            raise _Retryable("timeout", f"no reply within {c.timeout_s} s") from None
        except openai.APIConnectionError as e:
            raise _Retryable(
                "connection", f"connection failed: {e.__cause__ or e}", unreachable=_unreachable(e)
            ) from None
        except openai.APIStatusError as e:
            status, detail = e.status_code, _error_detail(e)
            if status in (401, 403, 404):
                raise JudgeUnavailableError(f"judge at {c.base_url} answered HTTP {status}: {detail}") from None
            if status == 429 or status >= 500:
                raise _Retryable(
                    f"http_{status}", f"HTTP {status}: {detail}", _retry_after(e.response.headers)
                ) from None
            raise JudgeCallError(f"http_{status}", f"HTTP {status}: {detail}") from None
        self._unreachable_since = None
        body = raw.content
        try:
            completion = json.loads(body)
        except ValueError:
            what = "an empty body" if not body.strip() else f"a body that is not JSON: {body[:120]!r}"
            raise _Retryable("bad_body", f"the judge answered HTTP 200 with {what}") from None
        reply = reply_from_completion(completion)
        if sampling.top_logprobs and reply.tokens is None:
            raise JudgeCallError(
                "no_logprobs",
                "the judge returned no log-probabilities although they were asked "
                "for (does the server support logprobs? use the text reward mode otherwise)",
            )
        return reply

    async def complete(
        self, prompt: str, images: Sequence[JudgeImage], sampling: SamplingConfig, text_first: bool = False
    ) -> JudgeReply:
        """One judge reply; raises :class:`JudgeCallError` or :class:`JudgeUnavailableError` (module doc)."""
        c = self.config
        async with self._slots:
            urls = await self._image_urls(images)
            pictures = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
            text = [{"type": "text", "text": prompt}]
            messages = [{"role": "user", "content": text + pictures if text_first else pictures + text}]
            retries = waits = 0
            while True:
                try:
                    return await self._once(messages, sampling)
                except _Retryable as e:
                    if e.unreachable:  # not counted against max_retries: waits for the server
                        self._still_unreachable(e)
                    elif retries >= c.max_retries:
                        raise JudgeCallError(e.reason, f"{e} (after {retries + 1} attempts)") from None
                    else:
                        retries += 1
                    await asyncio.sleep(self._backoff(waits, e.retry_after_s))
                    waits += 1

    async def aclose(self) -> None:
        await self._client.close()
