"""A Qwen2-VL processor for images only, so Qwen checkpoints load without torchvision.

transformers 5.x builds ``Qwen2VLProcessor`` with a video processor, and every video processor
needs torchvision, which must not be installed beside the CPU torch build (it breaks torch and
transformers). :class:`Qwen2VLImageOnlyProcessor` is the same processor without the video part; it
loads a standard checkpoint's ``processor/`` files. Used by the Qwen-Image-Edit backbones, the
in-process Qwen2.5-VL judge and the tiny test pipelines. Saved pipelines record this class by module
path, so the stock pipeline classes reload them as long as cocoedit is importable.
"""

from __future__ import annotations

from transformers import Qwen2VLProcessor
from transformers.processing_utils import ProcessorMixin


class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
    """``Qwen2VLProcessor`` for images only: no (torchvision-only) video processor."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)
