"""Settings of a judge: where it is (:class:`EndpointConfig`), how it decodes
(:class:`SamplingConfig`), and the whole judge (:class:`JudgeConfig`) as the training reward, data
curation and ``cocoedit eval judge`` all configure it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EndpointConfig(BaseModel):
    """Where the judge is and how to talk to it (no secrets: the key stays in the environment)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str | None = Field(None, description="Model id as the server knows it (required to judge).")
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(16, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    backoff_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    unreachable_timeout_s: float = Field(
        600.0, ge=0, description="How long to wait for a server that cannot be reached before stopping."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers (no secrets: keys stay in api_key_env)."
    )
    image_format: Literal["png", "jpeg"] = "png"
    jpeg_quality: int = Field(95, ge=1, le=100)
    max_image_side: int | None = Field(1024, ge=16)


class SamplingConfig(BaseModel):
    """Decoding settings; part of every cache key."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(512, ge=1)
    seed: int | None = 0
    top_logprobs: int = Field(0, ge=0, le=20)


class JudgeConfig(BaseModel):
    """One judge: the endpoint, decoding settings, how often to re-ask after an unparsable reply,
    the reply cache, and whether to check the server before the first request."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    endpoint: EndpointConfig
    sampling: SamplingConfig = SamplingConfig()
    parse_retries: int = Field(2, ge=0)
    cache_path: Path | None = None
    check_health: bool = True
