"""Qwen2-VL and Qwen3-VL processors for images only, so Qwen checkpoints load without torchvision.

transformers 5.x builds ``Qwen2VLProcessor`` and ``Qwen3VLProcessor`` with a video processor, and
every video processor needs torchvision, which must not be installed beside the CPU torch build (it
breaks torch and transformers). :class:`Qwen2VLImageOnlyProcessor` and
:class:`Qwen3VLImageOnlyProcessor` are the same processors without the video part; they load a
standard checkpoint's ``processor/`` files. Used by the Qwen-Image-Edit and Qwen-Image-2.1
backbones, the in-process Qwen2.5-VL judge and the tiny test pipelines. Saved pipelines record these
classes by module path, so the stock pipeline classes reload them as long as cocoedit is importable.
"""

from __future__ import annotations

from transformers import Qwen2VLProcessor, Qwen3VLProcessor
from transformers.processing_utils import ProcessorMixin


class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
    """``Qwen2VLProcessor`` for images only: no (torchvision-only) video processor."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


class Qwen3VLImageOnlyProcessor(Qwen3VLProcessor):
    """``Qwen3VLProcessor`` for images only: no (torchvision-only) video processor.

    The vision tokens are the standard Qwen ones; the processor's own ``__init__`` is bypassed
    only because it insists on a video processor.
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
        self.vision_start_token, self.vision_end_token = "<|vision_start|>", "<|vision_end|>"
        for name in ("image_token", "video_token", "vision_start_token", "vision_end_token"):
            setattr(self, f"{name}_id", tokenizer.convert_tokens_to_ids(getattr(self, name)))
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)
