"""A tiny pixel-space editor: the real ``FluxTransformer2DModel`` with Kontext-style source
conditioning, working directly on pixels (lossless: ``decode(encode(x)) == x``), for CPU demos.

* **Latents** are the image itself in [-1, 1], rearranged losslessly: a 2x2 pixel unshuffle
  gives a ``C = 12`` channel grid at half resolution ("VAE" scale factor 2), which is packed 2x2
  into tokens of 48 features like every Flux latent. A 32x32 image is 64 tokens; attention over
  pixel-level tokens would cost ~16x more on a CPU.
* **Text** comes from :class:`WordEmbedder`: each lower-cased word is hashed (CRC-32) into a
  trainable embedding table; the sequence feeds the transformer's context stream and its mean the
  pooled projection. No tokenizer, no download, deterministic.
* **Source conditioning** as FLUX.1 Kontext: the source's tokens follow the noisy target tokens
  along the sequence, with position ids whose first component is 1; the output is sliced back.

:class:`PixelEditPipeline` is a diffusers ``DiffusionPipeline`` (``save_pretrained`` /
``from_pretrained``, the Flux LoRA loader), so the rest of cocoedit (LoRA, the trainer,
``cocoedit edit``) uses it through :class:`PixelKontextBackbone` like the real editors.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import torch
from diffusers import (
    DiffusionPipeline,
    FlowMatchEulerDiscreteScheduler,
    FluxTransformer2DModel,
)
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.loaders import FluxLoraLoaderMixin
from diffusers.models.modeling_utils import ModelMixin

from cocoedit.core.images import pil_to_tensor
from cocoedit.models.backbone import ImageInput, as_pil_list
from cocoedit.models.condition import BackboneError, EditCondition
from cocoedit.models.kontext import KontextBackbone

_WORD = re.compile(r"[a-z]+|\d")
#: Row/column position ids are spread by this factor. The rotary embedding's frequencies are fixed
#: (theta 10000) and a tiny head has only three per axis: on an 8x8 token grid unscaled ids leave
#: one useful frequency, under which offsets 0 and 6 look alike, and attention cannot find the
#: source token at the same place (what editing mostly needs). Spread ids learn the copy faster.
POSITION_SCALE = 16.0


class WordEmbedder(ModelMixin, ConfigMixin):
    """Instruction -> (word embeddings ``[B, L, dim]``, pooled ``[B, dim]``) by hashed words."""

    @register_to_config
    def __init__(self, vocab_size: int = 2048, dim: int = 32, max_words: int = 16):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, dim)
        torch.nn.init.normal_(self.embedding.weight, std=1.0)

    def word_ids(self, instructions: Sequence[str]) -> torch.Tensor:
        """int64 ``[B, max_words]``; 0 pads (and is also a possible hash bucket)."""
        c = self.config
        ids = torch.zeros(len(instructions), c.max_words, dtype=torch.long)
        for i, text in enumerate(instructions):
            words = _WORD.findall(text.lower())[: c.max_words]
            for j, word in enumerate(words):
                ids[i, j] = 1 + zlib.crc32(word.encode()) % (c.vocab_size - 1)
        return ids

    def forward(self, instructions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.word_ids(instructions).to(self.embedding.weight.device)
        embeds = self.embedding(ids)
        present = (ids > 0).float()[..., None]
        pooled = (embeds * present).sum(1) / present.sum(1).clamp_min(1)
        return embeds, pooled


class PixelEditPipeline(DiffusionPipeline, FluxLoraLoaderMixin):
    """Container of the pixel editor's parts (use it through :class:`PixelKontextBackbone`)."""

    model_cpu_offload_seq = "text_encoder->transformer"
    _lora_loadable_modules = ["transformer"]  # the word embedder takes no LoRA

    def __init__(self, transformer: FluxTransformer2DModel, scheduler: FlowMatchEulerDiscreteScheduler,
                 text_encoder: WordEmbedder):
        super().__init__()
        self.register_modules(transformer=transformer, scheduler=scheduler, text_encoder=text_encoder)
        self.vae_scale_factor = 2  # the lossless 2x2 pixel unshuffle
        self.latent_channels = 12


def build_pixel_editor(
    hidden_heads: int = 4, head_dim: int = 16, layers: int = 2, single_layers: int = 2, text_dim: int = 32, seed: int = 0
) -> PixelEditPipeline:
    """A freshly initialised pixel editor (random weights), in eval mode."""
    if head_dim % 4:
        raise ValueError(f"head_dim must be a multiple of 4, got {head_dim}")
    # Rotary dims per position axis (image index, row, column); they must add up to head_dim.
    axis0 = max(2, head_dim // 8 * 2)
    axis1 = (head_dim - axis0) // 4 * 2
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=48, num_layers=layers, num_single_layers=single_layers,
        attention_head_dim=head_dim, num_attention_heads=hidden_heads, joint_attention_dim=text_dim,
        pooled_projection_dim=text_dim, guidance_embeds=False,
        axes_dims_rope=[axis0, axis1, head_dim - axis0 - axis1],
    )
    pipe = PixelEditPipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(),
                             text_encoder=WordEmbedder(dim=text_dim))
    for module in (pipe.transformer, pipe.text_encoder):
        module.eval()
    return pipe


class PixelKontextBackbone(KontextBackbone):
    """Kontext's velocity prediction (inherited) over pixel latents and word embeddings."""

    kind = "pixel-kontext"
    pipeline_class_name = "PixelEditPipeline"
    default_guidance = 1.0  # no guidance embedding

    @classmethod
    def pipeline_class(cls):
        return PixelEditPipeline

    def _position_ids(self, height: int, width: int, first: float) -> torch.Tensor:
        h, w = height // 4, width // 4  # token grid: pixel unshuffle 2x2, then packing 2x2
        ids = torch.zeros(h, w, 3, device=self.device, dtype=self.dtype)
        ids[..., 0] = first
        ids[..., 1] = torch.arange(h, device=self.device, dtype=self.dtype)[:, None] * POSITION_SCALE
        ids[..., 2] = torch.arange(w, device=self.device, dtype=self.dtype)[None, :] * POSITION_SCALE
        return ids.reshape(h * w, 3)

    def encode_source(self, images: ImageInput, height: int, width: int) -> torch.Tensor:
        self.check_resolution(height, width)
        pixels = []
        for im in as_pil_list(images):
            if im.size != (width, height):
                im = im.resize((width, height))
            pixels.append(pil_to_tensor(im))
        grid = torch.stack(pixels).to(device=self.device, dtype=self.dtype) * 2 - 1
        return self.pack(torch.nn.functional.pixel_unshuffle(grid, 2))

    def encode_condition(self, instructions, images, height, width, guidance=None, negative_instruction=" "):
        prompts = [instructions] if isinstance(instructions, str) else list(instructions)
        source = self.encode_source(images, height, width)
        if len(prompts) != source.shape[0]:
            raise BackboneError(f"{len(prompts)} instructions for {source.shape[0]} source images")
        embeds, pooled = self.pipeline.text_encoder(prompts)
        text = {"prompt_embeds": embeds.to(self.dtype), "pooled_prompt_embeds": pooled.to(self.dtype)}
        return EditCondition(text=text, source_latents=source, height=height, width=width,
                             guidance=self.resolve_guidance(guidance))

    def decode(self, latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
        pixels = torch.nn.functional.pixel_shuffle(self.unpack(latents, height, width).float(), 2)
        return ((pixels + 1) / 2).clamp(0, 1)
