"""In-process judge: a Qwen2.5-VL model run with transformers, behind the same backend interface.

For users without a judge server. Requests are served one at a time in a worker thread (the
model is not re-entrant), so the event loop stays responsive. Per-token top log-probabilities
are computed from the generation scores when the sampling settings ask for them, so the
``logprobs`` reward mode works here too.

The processor is :class:`cocoedit.core.qwen_processor.Qwen2VLImageOnlyProcessor` (no
torchvision needed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import torch

from cocoedit.core.qwen_processor import Qwen2VLImageOnlyProcessor
from cocoedit.judge.client import JudgeReply
from cocoedit.judge.config import SamplingConfig
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.parsing import TokenLogprobs


class TransformersJudgeBackend:
    """A judge running in this process. ``model`` is a ``Qwen2_5_VLForConditionalGeneration``."""

    def __init__(self, model, processor, model_id: str, max_image_side: int | None = 1024):
        if getattr(processor, "chat_template", None) is None:
            raise ValueError(f"judge model {model_id}: its processor has no chat template")
        self.model = model.eval()
        self.processor = processor
        self._model_id = model_id
        self.max_image_side = max_image_side
        self._lock = asyncio.Lock()

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        dtype: torch.dtype = torch.bfloat16,
        device: str = "cpu",
        max_image_side: int | None = 1024,
    ) -> TransformersJudgeBackend:
        """Load a local Qwen2.5-VL checkpoint folder (no download: ``local_files_only``)."""
        from transformers import Qwen2_5_VLForConditionalGeneration

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: judge model folder not found")
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=dtype, local_files_only=True)
        processor = Qwen2VLImageOnlyProcessor.from_pretrained(path, local_files_only=True)
        return cls(model.to(device), processor, path.name, max_image_side)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def encoding_id(self) -> str:
        return f"pil-max{self.max_image_side}"

    async def health_check(self) -> None:
        """Nothing to reach: the model is loaded already."""

    def _generate(
        self, prompt: str, images: Sequence[JudgeImage], sampling: SamplingConfig, text_first: bool = False
    ) -> JudgeReply:
        pictures, text = [{"type": "image"} for _ in images], [{"type": "text", "text": prompt}]
        content = text + pictures if text_first else pictures + text
        chat = self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
        inputs = self.processor(
            text=[chat], images=[im.resized(self.max_image_side) for im in images], return_tensors="pt"
        ).to(self.model.device)
        sample = sampling.temperature > 0
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                max_new_tokens=sampling.max_tokens,
                do_sample=sample,
                temperature=sampling.temperature if sample else None,
                top_p=sampling.top_p if sample else None,
                top_k=None,
                output_scores=bool(sampling.top_logprobs),
                return_dict_in_generate=True,
            )
        new_ids = out.sequences[0, inputs["input_ids"].shape[1] :].tolist()
        tokenizer = self.processor.tokenizer
        eos = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
        finish = "length"
        if new_ids and new_ids[-1] in eos:
            new_ids, finish = new_ids[:-1], "stop"
        text = tokenizer.decode(new_ids, skip_special_tokens=True)
        tokens = None
        if sampling.top_logprobs:
            tokens = []
            for step, token_id in enumerate(new_ids):
                logprobs = torch.log_softmax(out.scores[step][0].float(), dim=-1)
                top = torch.topk(logprobs, sampling.top_logprobs)
                tokens.append(
                    TokenLogprobs(
                        tokenizer.decode([token_id]),
                        {tokenizer.decode([int(i)]): float(v) for v, i in zip(top.values, top.indices, strict=True)},
                    )
                )
            tokens = tuple(tokens)
        return JudgeReply(text, tokens, finish)

    async def complete(
        self, prompt: str, images: Sequence[JudgeImage], sampling: SamplingConfig, text_first: bool = False
    ) -> JudgeReply:
        async with self._lock:
            return await asyncio.to_thread(self._generate, prompt, images, sampling, text_first)

    async def aclose(self) -> None:
        """Nothing to release; the model is freed with the backend."""
