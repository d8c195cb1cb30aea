"""Talking to an MLLM judge: images, sampling settings, and the OpenAI-compatible backend.

:class:`OpenAIJudgeBackend` speaks the chat-completions protocol that ``vllm serve``, SGLang
and hosted APIs all offer, through the ``openai`` package's async client. Images travel as
base64 data URLs (PNG or JPEG, longest side capped). Concurrency is bounded by a semaphore;
each request has a timeout; timeouts, connection errors, 429 and 5xx are retried with
exponential backoff (honouring ``Retry-After``), the ``openai`` client's own retries being off so
that the policy lives in one place. An exhausted request becomes a :class:`JudgeCallError`
carrying a short ``reason`` (``timeout``, ``http_429``, ``http_500``, ``connection``...); it
never becomes a score.

The API key is read from the environment variable named by ``api_key_env`` when the client is
built; it is never stored in configs, logged or written to reports. A local server needs no
key: when the variable is unset the placeholder ``EMPTY`` is sent (vLLM's convention).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import aiohttp
import numpy as np
import openai
import torch
from openai.types.chat import ChatCompletion
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from cocoedit.data.io import tensor_to_pil
from cocoedit.rewards.judge_parsing import TokenLogprobs


class JudgeUnavailableError(RuntimeError):
    """The judge cannot be used at all (server down, key rejected, model not served)."""


class JudgeCallError(RuntimeError):
    """One judge request failed after its retries; ``reason`` is a short machine-readable tag."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class EndpointConfig(BaseModel):
    """Where the judge is and how to talk to it (no secrets: the key stays in the environment)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(16, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    backoff_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    image_format: Literal["png", "jpeg"] = "png"
    jpeg_quality: int = Field(95, ge=1, le=100)
    max_image_side: int | None = Field(1024, ge=16)


class SamplingConfig(BaseModel):
    """Decoding settings; part of every cache key."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(512, ge=1)
    seed: int | None = 0
    top_logprobs: int = Field(0, ge=0, le=20)


@dataclass
class JudgeImage:
    """An RGB image for the judge, with a content hash (of its 8-bit pixels and size).

    The hash does not depend on the file format it came from, so the same pixels hit the same
    cache entry whether they were a PNG on disk or a tensor in the trainer.
    """

    pil: Image.Image
    sha256: str = field(init=False)
    _urls: dict[tuple, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.pil = self.pil.convert("RGB")
        h = hashlib.sha256(f"{self.pil.width}x{self.pil.height}:".encode())
        h.update(np.asarray(self.pil, dtype=np.uint8).tobytes())
        self.sha256 = h.hexdigest()

    @classmethod
    def from_tensor(cls, image: torch.Tensor) -> JudgeImage:
        """From float ``[3, H, W]`` in [0, 1] (rounded to 8 bits)."""
        return cls(tensor_to_pil(image))

    def resized(self, max_side: int | None) -> Image.Image:
        """The image with its longest side capped at ``max_side`` (Lanczos, aspect kept)."""
        w, h = self.pil.size
        if max_side is None or max(w, h) <= max_side:
            return self.pil
        scale = max_side / max(w, h)
        return self.pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)

    def has_data_url(self, fmt: Literal["png", "jpeg"], quality: int, max_side: int | None) -> bool:
        """Whether :meth:`data_url` with these settings is already encoded."""
        return (fmt, quality, max_side) in self._urls

    def data_url(self, fmt: Literal["png", "jpeg"], quality: int, max_side: int | None) -> str:
        """``data:image/...;base64,...`` for the given encoding (memoised per setting)."""
        key = (fmt, quality, max_side)
        if key not in self._urls:
            buf = io.BytesIO()
            im = self.resized(max_side)
            if fmt == "png":
                im.save(buf, format="PNG", compress_level=1)  # lossless anyway; level 1 is the fastest
            else:
                im.save(buf, format="JPEG", quality=quality)
            self._urls[key] = f"data:image/{fmt};base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        return self._urls[key]


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


def _retry_after(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after") if error.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _timeout_or_connection(error: BaseException) -> str:
    """``timeout`` or ``connection`` for an SDK timeout error.

    The aiohttp transport reports a dropped connection as a connect *timeout*; the original
    exception in the cause chain tells which it really was.
    """
    cause = error.__cause__ or error.__context__
    while cause is not None:
        if isinstance(cause, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            return "timeout"
        if isinstance(cause, aiohttp.ClientConnectionError):
            return "connection"
        cause = cause.__cause__ or cause.__context__
    return "timeout"


class OpenAIJudgeBackend:
    """A judge behind any OpenAI-compatible chat-completions endpoint."""

    def __init__(self, config: EndpointConfig):
        self.config = config
        # aiohttp transport (the openai package's documented option for high concurrency): the
        # default httpx transport spent ~2x the CPU per request, which at 64 concurrent requests
        # made the client, not the judge, the bottleneck (benchmarks/bench_judge.py).
        self._client = openai.AsyncOpenAI(
            base_url=config.base_url,
            api_key=api_key_from_env(config.api_key_env),
            timeout=config.timeout_s,
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(timeout=config.timeout_s),
        )
        self._slots = asyncio.Semaphore(config.concurrency)

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
        url, model = self.config.base_url, self.config.model
        try:
            listing = await self._client.models.list(timeout=min(10.0, self.config.timeout_s))
        except openai.AuthenticationError:
            raise JudgeUnavailableError(
                f"judge server at {url} rejected the API key (401); set it in ${self.config.api_key_env}"
            ) from None
        except openai.NotFoundError:
            return  # some servers do not list models; the first request will tell
        except (openai.APIConnectionError, openai.APITimeoutError) as e:
            raise JudgeUnavailableError(
                f"judge server at {url} is not reachable ({type(e).__name__}: {e}). Is it running? "
                "For a local judge: vllm serve Qwen/Qwen2.5-VL-7B-Instruct --port 8000 (see docs/judge.md)"
            ) from None
        except openai.APIStatusError as e:
            raise JudgeUnavailableError(f"judge server at {url} answered HTTP {e.status_code} to GET /models") from None
        served = [m.id for m in listing.data]
        if model not in served:
            raise JudgeUnavailableError(f"judge server at {url} does not serve model {model!r}; it serves {served}")

    async def _messages(self, prompt: str, images: Sequence[JudgeImage]) -> list[dict]:
        c = self.config
        # Encoding runs in worker threads (PIL releases the GIL), off the event loop that
        # drives every other request.
        key = (c.image_format, c.jpeg_quality, c.max_image_side)
        if all(im.has_data_url(*key) for im in images):  # memoised: a thread hop would cost more
            urls = [im.data_url(*key) for im in images]
        else:
            urls = await asyncio.gather(*[asyncio.to_thread(im.data_url, *key) for im in images])
        content: list[dict] = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
        content.append({"type": "text", "text": prompt})
        return [{"role": "user", "content": content}]

    async def _once(self, messages: list[dict], sampling: SamplingConfig) -> JudgeReply:
        kwargs: dict = {
            "model": self.config.model,
            "messages": messages,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            kwargs["seed"] = sampling.seed
        if sampling.top_logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = sampling.top_logprobs
        # client.post skips the SDK's per-request TypedDict transform of the (large, base64) body,
        # which costs milliseconds of CPU per request and caps throughput; the wire format and the
        # ChatCompletion parsing are the same as chat.completions.create.
        response = await self._client.post("/chat/completions", body=kwargs, cast_to=ChatCompletion)
        if not response.choices:
            raise JudgeCallError("empty_response", "the judge returned no choices")
        choice = response.choices[0]
        tokens = None
        if choice.logprobs is not None and choice.logprobs.content:
            tokens = tuple(
                TokenLogprobs(t.token, {alt.token: alt.logprob for alt in (t.top_logprobs or [])})
                for t in choice.logprobs.content
            )
        return JudgeReply(choice.message.content or "", tokens, choice.finish_reason)

    async def complete(self, prompt: str, images: Sequence[JudgeImage], sampling: SamplingConfig) -> JudgeReply:
        """One judge reply, retrying transport failures; raises :class:`JudgeCallError` when exhausted.

        401/403/404 raise :class:`JudgeUnavailableError` at once: no retry can fix them.
        """
        c = self.config
        async with self._slots:
            messages = await self._messages(prompt, images)
            for attempt in range(c.max_retries + 1):
                wait = None
                try:
                    return await self._once(messages, sampling)
                except openai.APITimeoutError as e:
                    reason = _timeout_or_connection(e)
                    message = f"no reply within {c.timeout_s} s" if reason == "timeout" else f"connection lost: {e}"
                except openai.APIConnectionError as e:
                    reason, message = "connection", f"connection failed: {e}"
                except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as e:
                    raise JudgeUnavailableError(f"judge at {c.base_url} answered HTTP {e.status_code}: {e.message}") from None
                except openai.APIStatusError as e:
                    reason, message = f"http_{e.status_code}", f"HTTP {e.status_code}: {e.message}"
                    if e.status_code != 429 and e.status_code < 500:
                        raise JudgeCallError(reason, message) from None
                    wait = _retry_after(e)
                if attempt == c.max_retries:
                    raise JudgeCallError(reason, f"{message} (after {attempt + 1} attempts)")
                backoff = min(c.backoff_max_s, c.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
                await asyncio.sleep(min(c.backoff_max_s, wait) if wait is not None else backoff)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._client.close()
