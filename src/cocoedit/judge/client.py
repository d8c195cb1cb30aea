"""Talking to an MLLM judge over the OpenAI-compatible chat-completions protocol.

:class:`OpenAIJudgeBackend` sends requests with the ``openai`` package's ``AsyncOpenAI`` client
(OpenAI, Azure, vLLM, SGLang and ``transformers serve`` all take its base URL, key and headers;
request bodies are built by the library) and reads each answer strictly itself
(:mod:`cocoedit.judge.answers`). Several replicas of one judge share the load: each request goes to
the least busy one, and one that fails repeatedly leaves the rotation for a while
(:mod:`cocoedit.judge.pool`).

Failures and what happens to them (the ``reason`` tags are what callers count):

* no replica can be reached (connection refused, DNS, connect timeout): waited for with backoff
  for ``unreachable_timeout_s``, then :class:`JudgeUnreachableError`; one of several that cannot
  be reached leaves the rotation and the request goes on elsewhere at once;
* ``timeout``, ``connection`` (dropped), ``http_429``, ``http_5xx``, ``bad_body`` (an HTTP 200
  that is empty, HTML or truncated): retried up to ``max_retries`` times, on another replica when
  there is one, else after a jittered exponential backoff honouring ``Retry-After``;
* ``http_4xx``, ``empty_response``, ``bad_response`` (a field missing) and ``no_logprobs``: not
  retried — asking again would get the same answer;
* HTTP 401/403/404, a model missing from the server's ``GET /models`` list, or — when the list
  could not be read — a refusal of the first request (HTTP 4xx/5xx other than 429 and 503, no
  log-probabilities) before anything was answered: :class:`JudgeUnavailableError`, once, for
  every request (a wrong key or model id is not retried for each sample).

An exhausted or unretried request becomes a :class:`JudgeCallError` carrying its reason and the
server's explanation; it never becomes a score. The API key is read from the environment variable
``api_key_env`` when the backend is built and is never stored, logged or written; a local server
needs none (the placeholder ``EMPTY`` is sent, vLLM's convention).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Sequence
from typing import Protocol

import openai

from cocoedit.core.errors import CocoEditError, ServiceUnavailableError
from cocoedit.judge.answers import AnswerError, JudgeReply, error_detail, reply_from_completion, retry_after
from cocoedit.judge.config import EndpointConfig, SamplingConfig
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.pool import EndpointPool

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


# Answers that say "not now" rather than "not this": never taken as a refusal of the model.
_TRANSIENT_STATUS = ("http_429", "http_503")


class OpenAIJudgeBackend:
    """A judge behind one or several OpenAI-compatible chat-completions endpoints (see the module
    doc): ``base_urls`` are replicas of one judge (default: ``config.base_url`` alone), every other
    setting of ``config`` applies to each; requests are routed by :class:`EndpointPool`."""

    def __init__(self, config: EndpointConfig, base_urls: Sequence[str] | None = None):
        if not config.model:
            raise JudgeUnavailableError("no judge model given: set endpoint.model (or pass --model)")
        self.config = config
        urls = [u.rstrip("/") for u in (base_urls or [config.base_url])]
        key = api_key_from_env(config.api_key_env)  # read once here; it lives only in the clients
        self._clients = [
            openai.AsyncOpenAI(
                api_key=key,
                base_url=url,
                max_retries=0,  # retries are ours: each failure is classified and counted
                timeout=config.timeout_s,
                default_headers=dict(config.headers) or None,
            )
            for url in urls
        ]
        self.pool = EndpointPool(urls, config.concurrency, config.eject_after_failures, config.recheck_s, self._probe)
        self._unreachable_since: float | None = None
        # Replicas whose GET /models could not say whether they serve the model: until one answers a
        # request, a refusal (HTTP 4xx/5xx, no log-probabilities) is taken as "not this model".
        self._unconfirmed: set[int] = set()
        self._fatal: JudgeUnavailableError | None = None

    @property
    def model_id(self) -> str:
        return self.config.model

    @property
    def encoding_id(self) -> str:
        c = self.config
        quality = f"q{c.jpeg_quality}" if c.image_format == "jpeg" else ""
        return f"{c.image_format}{quality}-max{c.max_image_side}"

    def endpoint_stats(self) -> list[dict]:
        """Per replica: attempts, answers, failures by reason, times out of the rotation."""
        return self.pool.stats()

    def _hint(self) -> str:
        return "Is it running? For a local judge: vllm serve Qwen/Qwen2.5-VL-7B-Instruct --port 8000 (docs/judge.md)"

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        c = self.config
        if retry_after_s is not None:
            return min(c.backoff_max_s, retry_after_s)
        return min(c.backoff_max_s, c.backoff_s * 2**attempt) * (0.5 + random.random() / 2)

    def _still_unreachable(self, url: str, error: Exception) -> None:
        """Note that no replica can be reached now; raise once that has lasted too long."""
        now = time.monotonic()
        if self._unreachable_since is None:
            self._unreachable_since = now
        down = now - self._unreachable_since
        if down >= self.config.unreachable_timeout_s:
            raise JudgeUnreachableError(
                f"judge server at {url} unreachable for {down:.0f} s "
                f"(endpoint.unreachable_timeout_s = {self.config.unreachable_timeout_s:g}): {error}. " + self._hint()
            ) from None

    # -- the health check -----------------------------------------------------------------------
    async def _probe(self, i: int) -> None:
        """Whether replica ``i`` answers at all (any HTTP status): the check that brings it back."""
        try:
            await self._clients[i].models.list(timeout=self.config.health_timeout_s)
        except openai.APIStatusError:
            return

    async def _check_replica(self, i: int) -> str | None:
        """Check one replica before the first request; returns why it could not be reached (None
        when it could). A rejected key, or a model list without the model, raises
        :class:`JudgeUnavailableError`; a server that cannot list its models in
        ``health_timeout_s`` (or at all) is noted, and its first refusal will say whether it
        serves the model."""
        c, url = self.config, self.pool.url(i)
        why = "no answer"
        for attempt in range(c.max_retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff(attempt - 1, None))
            try:
                page = await self._clients[i].models.list(timeout=c.health_timeout_s)
                break
            except openai.APITimeoutError as e:
                if _unreachable(e):
                    why = str(e.__cause__ or e)
                    continue
                logger.warning(
                    "judge server at %s did not list its models within %g s (endpoint.health_timeout_s); going "
                    "on: the first request will tell whether it serves %r",
                    url,
                    c.health_timeout_s,
                    c.model,
                )
                self._unconfirmed.add(i)
                return None
            except openai.APIConnectionError as e:
                why = str(e.__cause__ or e)
                continue
            except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
                raise JudgeUnavailableError(
                    f"judge server at {url} rejected the API key (HTTP {e.status_code}); set it in ${c.api_key_env}"
                ) from None
            except openai.APIStatusError as e:
                logger.warning(
                    "judge server at %s answered HTTP %s to GET /models (%s); going on: the first request will "
                    "tell whether it serves %r",
                    url,
                    e.status_code,
                    error_detail(e),
                    c.model,
                )
                self._unconfirmed.add(i)
                return None
            except openai.APIError as e:  # a list that is not a list
                logger.warning("judge server at %s answered GET /models with no model list (%s); going on", url, e)
                self._unconfirmed.add(i)
                return None
        else:
            return why
        served = [m.id for m in page.data]
        if c.model not in served:
            raise JudgeUnavailableError(
                f"judge server at {url} serves {served}, not {c.model!r}: give one of those as the model "
                "(--model, endpoint.model). If it serves that model all the same (transformers serve given a "
                "local folder), set check_health: false"
            )
        return None

    async def health_check(self) -> None:
        """Check every replica before the first request (``GET /models``, ``max_retries`` tries,
        ``health_timeout_s`` each). A replica that cannot be reached leaves the rotation and is
        checked again later; when none can be, the judge stops at once: at start a wrong address
        is likelier than a restart (mid-run, requests wait ``unreachable_timeout_s`` instead)."""
        failed = await asyncio.gather(*[self._check_replica(i) for i in range(len(self.pool))])
        if all(failed):
            if len(failed) == 1:
                raise JudgeUnavailableError(
                    f"judge server at {self.pool.url(0)} is not reachable ({failed[0]}). " + self._hint()
                )
            why = "; ".join(f"{self.pool.url(i)}: {w}" for i, w in enumerate(failed))
            raise JudgeUnavailableError(f"no judge server is reachable ({why}). " + self._hint())
        for i, why in enumerate(failed):
            if why:
                self.pool.eject(i, f"is not reachable at start ({why})")

    # -- one request ----------------------------------------------------------------------------
    async def _image_urls(self, images: Sequence[JudgeImage]) -> list[str]:
        c = self.config
        # Encoding runs in worker threads (PIL releases the GIL), off the event loop that
        # drives every other request.
        key = (c.image_format, c.jpeg_quality, c.max_image_side)
        if all(im.has_data_url(*key) for im in images):  # memoised: a thread hop would cost more
            return [im.data_url(*key) for im in images]
        return await asyncio.gather(*[asyncio.to_thread(im.data_url, *key) for im in images])

    async def _once(self, i: int, messages: list, sampling: SamplingConfig) -> JudgeReply:
        c, url = self.config, self.pool.url(i)
        extra = {"seed": sampling.seed} if sampling.seed is not None else {}
        if sampling.top_logprobs:
            extra.update(logprobs=True, top_logprobs=sampling.top_logprobs)
        try:
            raw = await self._clients[i].chat.completions.with_raw_response.create(
                model=c.model,
                messages=messages,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
                **extra,
            )
        except openai.APITimeoutError as e:
            if _unreachable(e):
                raise _Retryable("connection", f"cannot connect to {url}: {e.__cause__}", unreachable=True) from None
            raise _Retryable("timeout", f"no reply within {c.timeout_s} s") from None
        except openai.APIConnectionError as e:
            raise _Retryable(
                "connection", f"connection failed: {e.__cause__ or e}", unreachable=_unreachable(e)
            ) from None
        except openai.APIStatusError as e:
            status, detail = e.status_code, error_detail(e)
            if status in (401, 403, 404):
                raise JudgeUnavailableError(f"judge at {url} answered HTTP {status}: {detail}") from None
            if status == 429 or status >= 500:
                raise _Retryable(
                    f"http_{status}", f"HTTP {status}: {detail}", retry_after(e.response.headers)
                ) from None
            raise JudgeCallError(f"http_{status}", f"HTTP {status}: {detail}") from None
        body = raw.content
        try:
            completion = json.loads(body)
        except ValueError:
            what = "an empty body" if not body.strip() else f"a body that is not JSON: {body[:120]!r}"
            raise _Retryable("bad_body", f"the judge answered HTTP 200 with {what}") from None
        try:
            reply = reply_from_completion(completion)
        except AnswerError as e:
            raise JudgeCallError(e.reason, str(e)) from None
        if sampling.top_logprobs and reply.tokens is None:
            raise JudgeCallError(
                "no_logprobs",
                "the judge returned no log-probabilities although they were asked "
                "for (does the server support logprobs? use the text reward mode otherwise)",
            )
        return reply

    def _refusal(self, i: int, reason: str, error: Exception) -> JudgeUnavailableError | None:
        """The whole judge's stop when replica ``i``, whose model list said nothing about the model
        and which has answered nothing yet, refuses a request: a wrong model id or an option the
        server does not take fails every request alike, so it is not retried for each sample."""
        if i not in self._unconfirmed or reason in _TRANSIENT_STATUS:
            return None
        if not (reason.startswith("http_") or reason == "no_logprobs"):
            return None
        self._fatal = JudgeUnavailableError(
            f"judge at {self.pool.url(i)} refused the first request for model {self.config.model!r}: {error}. "
            "Nothing has been answered yet and GET /models did not list the models, so this is taken as a "
            "model id the server does not serve or an option it does not take, not retried for every sample: "
            "check the model id (--model, endpoint.model)"
            + (" or use the text reward mode" if reason == "no_logprobs" else "")
        )
        return self._fatal

    async def complete(
        self, prompt: str, images: Sequence[JudgeImage], sampling: SamplingConfig, text_first: bool = False
    ) -> JudgeReply:
        """One judge reply; raises :class:`JudgeCallError` or :class:`JudgeUnavailableError` (module doc)."""
        messages, retries, waits, avoid = None, 0, 0, None
        while True:
            if self._fatal is not None:
                raise self._fatal
            i = await self.pool.acquire(avoid)
            outcome: tuple[str | None, bool, bool] = ("cancelled", False, False)
            try:
                if messages is None:
                    urls = await self._image_urls(images)
                    pictures = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
                    text = [{"type": "text", "text": prompt}]
                    messages = [{"role": "user", "content": text + pictures if text_first else pictures + text}]
                reply = await self._once(i, messages, sampling)
                outcome = (None, False, False)
                self._unreachable_since = None
                self._unconfirmed.discard(i)
                return reply
            except _Retryable as e:
                outcome, error = (e.reason, True, e.unreachable), e
            except JudgeCallError as e:
                outcome = (e.reason, False, False)
                raise self._refusal(i, e.reason, e) or e from None
            except JudgeUnavailableError as e:
                outcome = ("unavailable", False, False)
                self._fatal = e
                raise
            finally:
                self.pool.release(i, *outcome)
            refusal = self._refusal(i, error.reason, error)
            if refusal is not None:
                raise refusal
            others = [j for j in self.pool.in_rotation() if j != i]
            if error.unreachable:  # not counted against max_retries: waits for the server
                if others:
                    avoid = None
                    continue  # the replica left the rotation (or another serves): go on there at once
                self._still_unreachable(self.pool.url(i), error)
            elif retries >= self.config.max_retries:
                raise JudgeCallError(error.reason, f"{error} (after {retries + 1} attempts)") from None
            else:
                retries += 1
            if others:
                avoid = i  # another replica may answer: no need to wait
                continue
            await asyncio.sleep(self._backoff(waits, error.retry_after_s))
            waits += 1

    async def aclose(self) -> None:
        await self.pool.aclose()
        for client in self._clients:
            await client.close()
