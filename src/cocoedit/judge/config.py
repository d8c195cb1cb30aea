"""Settings of a judge: where it is and how to talk to it (:class:`EndpointConfig`), how it decodes
(:class:`SamplingConfig`), and the whole judge (:class:`JudgeConfig`) as the training reward, data
curation and ``cocoedit eval judge`` all configure it.

Several replicas of one judge (``vllm serve`` on several machines) are one judge: their base URLs
go in ``JudgeConfig.endpoints`` (a list, or one URL) and every other setting of ``endpoint``
applies to each of them; ``concurrency`` is per replica."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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
    health_timeout_s: float = Field(
        30.0,
        gt=0,
        description="How long GET /models may take in the health check (transformers serve scans its cache there).",
    )
    eject_after_failures: int = Field(
        3,
        ge=1,
        description="Consecutive timeouts, dropped connections or 5xx answers after which a replica leaves the "
        "rotation (never the last one in it).",
    )
    recheck_s: float = Field(
        30.0, gt=0, description="How often a replica out of the rotation is health-checked to bring it back."
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
    endpoints: list[str] | None = Field(
        None,
        description="Base URLs of several replicas of the judge (or one URL), instead of endpoint.base_url; "
        "every other endpoint setting applies to each.",
    )
    sampling: SamplingConfig = SamplingConfig()
    parse_retries: int = Field(2, ge=0)
    cache_path: Path | None = None
    check_health: bool = True

    @field_validator("endpoints", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_endpoints(self) -> JudgeConfig:
        if self.endpoints is None:
            return self
        if not self.endpoints:
            raise ValueError("endpoints: give at least one base URL (or leave it out and set endpoint.base_url)")
        for url in self.endpoints:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"endpoints: {url!r} is not an http:// or https:// base URL")
        repeated = sorted({u for u in self.endpoints if self.endpoints.count(u) > 1})
        if repeated:
            raise ValueError(f"endpoints: {repeated[0]} is listed twice")
        if "base_url" in self.endpoint.model_fields_set and self.endpoint.base_url not in self.endpoints:
            raise ValueError(
                f"endpoint.base_url ({self.endpoint.base_url}) and endpoints both name judge servers: list every "
                "one in endpoints"
            )
        return self

    def base_urls(self) -> list[str]:
        """Every replica's base URL: ``endpoints``, or ``endpoint.base_url`` alone."""
        return list(self.endpoints) if self.endpoints else [self.endpoint.base_url]
