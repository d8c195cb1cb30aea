"""One judging step: render a template, ask the backend, parse strictly, retry, cache.

:meth:`Judge.evaluate` never raises for a per-sample problem: it returns a
:class:`JudgeOutcome` that is either ``ok`` with the parsed scores, or a failure with a short
``reason`` (``unparsable``, ``timeout``, ``http_500``...), the error message and the last raw
reply text. Callers decide what a failure means (the trainer drops the sample, the benchmark
counts it); no score is ever filled in for it. Only a judge that cannot be used at all
(:class:`~cocoedit.judge.client.JudgeUnavailableError`) propagates.

:func:`open_judge` builds a :class:`Judge` from a :class:`~cocoedit.judge.config.JudgeConfig`: the
one constructor behind the training reward, data curation and ``cocoedit eval judge``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cocoedit.core.errors import UNPARSABLE
from cocoedit.judge.cache import JudgeCache, cache_key
from cocoedit.judge.client import JudgeBackend, JudgeCallError, JudgeReply, JudgeUnavailableError, OpenAIJudgeBackend
from cocoedit.judge.config import JudgeConfig, SamplingConfig
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.parsing import ReplyParseError
from cocoedit.judge.prompts import JudgeTemplate

LOGPROB_TOP_K = 20


@dataclass(frozen=True)
class JudgeOutcome:
    """The result of judging one (template, images, instruction)."""

    ok: bool
    scores: dict[str, float] | None
    primary: float | None
    reason: str
    error: str | None
    text: str | None
    attempts: int
    cached: bool


class Judge:
    """Backend + sampling settings + parse-retry policy + optional cache.

    ``parse_retries`` is how many extra replies are requested after an unparsable one (with
    temperature 0 a retry usually repeats the reply; it still helps with sampling judges).
    Templates that read log-probabilities get ``top_logprobs = 20`` requested automatically.
    """

    def __init__(
        self,
        backend: JudgeBackend,
        sampling: SamplingConfig | None = None,
        parse_retries: int = 2,
        cache: JudgeCache | None = None,
    ):
        if parse_retries < 0:
            raise ValueError(f"parse_retries must be >= 0, got {parse_retries}")
        self.backend = backend
        self.sampling = sampling or SamplingConfig()
        self.parse_retries = parse_retries
        self.cache = cache

    def _sampling_for(self, template: JudgeTemplate) -> SamplingConfig:
        if template.needs_logprobs and self.sampling.top_logprobs == 0:
            return self.sampling.model_copy(update={"top_logprobs": LOGPROB_TOP_K})
        return self.sampling

    @staticmethod
    def _success(template: JudgeTemplate, reply: JudgeReply, attempts: int, cached: bool) -> JudgeOutcome:
        scores = template.parse(reply.text, reply.tokens)
        return JudgeOutcome(True, scores, scores[template.primary], "ok", None, reply.text, attempts, cached)

    async def evaluate(
        self, template: JudgeTemplate, images: Mapping[str, JudgeImage], instruction: str | None
    ) -> JudgeOutcome:
        """Judge one case; ``images`` maps role (``"source"``, ``"edited"``) to image."""
        missing = [role for role in template.images if role not in images]
        if missing:
            raise ValueError(f"template {template.ident} needs image(s) {missing}")
        ordered = [images[role] for role in template.images]
        hashes = [im.sha256 for im in ordered]
        prompt = template.render(instruction)
        sampling = self._sampling_for(template)
        key = None
        if self.cache is not None:  # the key is only for the cache: skip hashing it otherwise
            key = cache_key(self.backend.model_id, self.backend.encoding_id, template, hashes, instruction, sampling)
            hit = self.cache.lookup(key)
            if hit is not None:
                try:
                    return self._success(template, hit, 0, True)
                except ReplyParseError:
                    pass  # stored under an older parser; ask again

        text, reason, error = None, "", ""
        for attempt in range(1, self.parse_retries + 2):
            try:
                reply = await self.backend.complete(prompt, ordered, sampling, template.text_first)
            except JudgeCallError as e:
                self._record(key, template, hashes, instruction, sampling, None, f"{e.reason}: {e}")
                return JudgeOutcome(False, None, None, e.reason, str(e), text, attempt, False)
            text = reply.text
            try:
                outcome = self._success(template, reply, attempt, False)
            except ReplyParseError as e:
                reason, error = UNPARSABLE, str(e)
                self._record(key, template, hashes, instruction, sampling, reply, f"unparsable: {e}")
                continue
            self._record(key, template, hashes, instruction, sampling, reply, None)
            return outcome
        return JudgeOutcome(False, None, None, reason, error, text, self.parse_retries + 1, False)

    def _record(self, key, template, hashes, instruction, sampling, reply, error) -> None:
        if self.cache is not None:
            self.cache.record(
                key,
                model_id=self.backend.model_id,
                template=template,
                image_hashes=hashes,
                instruction=instruction,
                sampling=sampling,
                reply=reply,
                error=error,
            )

    async def aclose(self) -> None:
        """Close the backend's connections and the cache."""
        await self.backend.aclose()
        if self.cache is not None:
            self.cache.close()


async def open_judge(
    config: JudgeConfig, backend: JudgeBackend | None = None, cache: JudgeCache | None = None
) -> Judge:
    """A ready :class:`Judge`: ``backend`` (default: the OpenAI-compatible client of
    ``config.endpoint`` over every replica in ``config.endpoints``), health-checked when
    ``config.check_health``, with ``cache`` (default: a cache at ``config.cache_path``, if set).
    Call it inside the event loop that will use the judge.
    """
    if backend is None:
        if not config.endpoint.model:
            raise JudgeUnavailableError("no judge model given: set endpoint.model (or pass --model)")
        backend = OpenAIJudgeBackend(config.endpoint, config.base_urls())
    try:
        if config.check_health:
            await backend.health_check()
        if cache is None and config.cache_path is not None:
            cache = JudgeCache(config.cache_path)
    except BaseException:
        await backend.aclose()
        raise
    return Judge(backend, config.sampling, config.parse_retries, cache)
