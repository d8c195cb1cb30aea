"""The MLLM-judge reward the trainer calls: (sources, edits, instructions) -> scores + validity.

``MLLMReward(sources, edited, instructions)`` returns a :class:`JudgeRewardBatch` whose ``scores``
are in [0, 1] where ``valid`` is true and NaN where the judge gave no usable answer, with each
failure's reason (``timeout``, ``unparsable``, ...); the trainer drops invalid samples (their NaN
makes any accidental use loud), counts the reasons, and stops when too large a share of an epoch
could not be judged (``reward.max_unscored_fraction``). A judge that cannot be reached at all
raises (:class:`~cocoedit.judge.client.JudgeUnavailableError`, a
:class:`~cocoedit.core.errors.ServiceUnavailableError`). :class:`JudgeReward` is the same
as a trainer reward component.

The reward owns a background event loop in its own thread, so it can be called synchronously
from any thread (the reference scores rewards in a thread pool while sampling continues) while
the async client keeps its connections on one loop.

Departures from the reference (method.md §d.1): no fallback score (the reference uses 2.5/5 when
nothing parses and 0.5 for non-finite scores); two criteria averaged, as in the paper's figure,
instead of one; images shown source first; default temperature 0 instead of 0.7.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from cocoedit.judge.client import JudgeBackend
from cocoedit.judge.config import JudgeConfig, SamplingConfig
from cocoedit.judge.evaluate import Judge, JudgeOutcome, open_judge
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.prompts import RewardMode, reward_template
from cocoedit.rewards.base import RewardBatch, RewardError, RewardInputs

T = TypeVar("T")


class MLLMRewardConfig(JudgeConfig):
    """The judge (:class:`~cocoedit.judge.config.JudgeConfig`) plus the reward's prompt mode."""

    sampling: SamplingConfig = SamplingConfig(max_tokens=32)
    mode: RewardMode = "text"


@dataclass(frozen=True)
class JudgeRewardBatch(RewardBatch):
    """A :class:`RewardBatch` that also keeps every judge outcome (raw reply, failure reason)."""

    outcomes: tuple[JudgeOutcome, ...] = ()


def _as_images(images: torch.Tensor | Sequence[torch.Tensor], name: str) -> list[JudgeImage]:
    """``[B, 3, H, W]`` or a list of ``[3, H, W]`` float tensors in [0, 1]."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"{name}: expected [B, 3, H, W], got {tuple(images.shape)}")
        images = list(images)
    return [JudgeImage.from_tensor(im) for im in images]


class _LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="mllm-reward-loop")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class MLLMReward:
    """Callable reward; build it with :meth:`from_config` (HTTP judge) or from any backend."""

    def __init__(self, config: MLLMRewardConfig, backend_factory: Callable[[], JudgeBackend] | None = None):
        """The judge of ``config`` (:func:`~cocoedit.judge.evaluate.open_judge`), or the backend that
        ``backend_factory()`` builds (an in-process model, a test double); either is created on the
        reward's own event loop."""
        self.template = reward_template(config.mode)
        self._loop = _LoopThread()

        async def build() -> Judge:
            backend = backend_factory() if backend_factory is not None else None
            return await open_judge(config, backend)

        try:
            self.judge = self._loop.run(build())
        except BaseException:
            self._loop.stop()
            raise

    async def ascore(
        self,
        sources: torch.Tensor | Sequence[torch.Tensor],
        edited: torch.Tensor | Sequence[torch.Tensor],
        instructions: Sequence[str],
    ) -> JudgeRewardBatch:
        src, out = _as_images(sources, "sources"), _as_images(edited, "edited")
        if not len(src) == len(out) == len(instructions):
            raise RewardError(
                f"batch sizes differ: {len(src)} sources, {len(out)} edited, {len(instructions)} instructions"
            )
        outcomes = await asyncio.gather(
            *[
                self.judge.evaluate(self.template, {"source": s, "edited": e}, instr)
                for s, e, instr in zip(src, out, instructions, strict=True)
            ]
        )
        valid = torch.tensor([o.ok for o in outcomes], dtype=torch.bool)
        scores = torch.tensor([o.primary if o.ok else float("nan") for o in outcomes], dtype=torch.float32)
        reasons = tuple(None if o.ok else o.reason for o in outcomes)
        details = tuple(None if o.ok else o.error + (f"; reply: {o.text!r}" if o.text else "") for o in outcomes)
        return JudgeRewardBatch(scores, valid, reasons, details, outcomes=tuple(outcomes))

    def __call__(
        self,
        sources: torch.Tensor | Sequence[torch.Tensor],
        edited: torch.Tensor | Sequence[torch.Tensor],
        instructions: Sequence[str],
    ) -> JudgeRewardBatch:
        """Score a batch synchronously (safe to call from any thread but the reward's own)."""
        return self._loop.run(self.ascore(sources, edited, instructions))

    def close(self) -> None:
        self._loop.run(self.judge.aclose())
        self._loop.stop()

    def __enter__(self) -> MLLMReward:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class JudgeReward:
    """:class:`MLLMReward` as a trainer reward component (the built-in ``judge``)."""

    def __init__(self, reward: MLLMReward):
        self.reward = reward

    def __call__(self, inputs: RewardInputs) -> RewardBatch:
        return self.reward(inputs.sources, inputs.edited, inputs.instructions)

    def close(self) -> None:
        self.reward.close()
