"""A tiny pixel-space editor: the real ``FluxTransformer2DModel`` conditioned on the source image,
working directly on pixels (lossless: ``decode(encode(x)) == x``), for CPU demos.

* **Latents** are the image itself in [-1, 1], rearranged losslessly: a 2x2 pixel unshuffle
  gives a ``C = 12`` channel grid at half resolution ("VAE" scale factor 2), which is packed 2x2
  into tokens of 48 features like every Flux latent. A 32x32 image is 64 tokens; attention over
  pixel-level tokens would cost ~16x more on a CPU.
* **Text** comes from :class:`WordEmbedder`: each lower-cased word is hashed (CRC-32) into a
  trainable embedding table; the sequence feeds the transformer's context stream and its mean the
  pooled projection. No tokenizer, no download, deterministic.
* **Source conditioning**, one of two, chosen when the editor is built and read back from the
  transformer's shape:

  - ``"channels"`` (default): each noisy target token
    carries the source token at the same place as 48 extra input features (``in_channels = 96``,
    ``out_channels = 48``), as InstructPix2Pix concatenates the source latent. Copying the keep
    region is then local to the token instead of an attention look-up, and the sequence is half
    as long, which halves every forward pass: in a CPU budget the editor trains twice the steps.
  - ``"sequence"``, as FLUX.1 Kontext: the source's tokens follow the noisy target tokens along the
    sequence, with position ids whose first component is 1; the output is sliced back.
* **Prediction** (the pipeline's ``prediction`` config), one of two:

  - ``"source_residual"`` (the demo's default): the transformer predicts the clean image's
    difference from the source, ``x0_hat = source + f``, and the editor returns the velocity that
    implies, ``v = (x_t - x0_hat) / sigma`` (sigma clamped at 1e-3; samplers never evaluate at 0).
    An untrained editor (output layer at zero) copies the source exactly, so the keep region costs
    no capacity and shows no token blocks, and training goes to the edits. It is a
    parameterisation of the same flow: the trainer's ``x0_hat = x_t - sigma v`` is this
    ``x0_hat``.
  - ``"velocity"``: the transformer predicts ``v`` directly, as Kontext does.

:class:`PixelEditPipeline` is a diffusers ``DiffusionPipeline`` (``save_pretrained`` /
``from_pretrained``, the Flux LoRA loader), so the rest of cocoedit (LoRA, the trainer,
``cocoedit edit``) uses it through :class:`PixelKontextBackbone` like the real editors.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Literal

import torch
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.loaders import FluxLoraLoaderMixin
from diffusers.models.modeling_utils import ModelMixin

from cocoedit.core.images import pil_to_tensor
from cocoedit.models.backbone import ImageInput, as_pil_list
from cocoedit.models.condition import BackboneError, EditCondition
from cocoedit.models.flow import velocity_from_x0
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


PREDICTIONS = ("source_residual", "velocity")


class PixelEditPipeline(DiffusionPipeline, FluxLoraLoaderMixin):
    """Container of the pixel editor's parts (use it through :class:`PixelKontextBackbone`)."""

    model_cpu_offload_seq = "text_encoder->transformer"
    _lora_loadable_modules = ["transformer"]  # the word embedder takes no LoRA

    def __init__(
        self,
        transformer: FluxTransformer2DModel,
        scheduler: FlowMatchEulerDiscreteScheduler,
        text_encoder: WordEmbedder,
        prediction: str = "velocity",
    ):
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {prediction!r}")
        self.register_modules(transformer=transformer, scheduler=scheduler, text_encoder=text_encoder)
        # Editors saved before this option have no such key and load as "velocity", what they were.
        self.register_to_config(prediction=prediction)
        self.vae_scale_factor = 2  # the lossless 2x2 pixel unshuffle
        self.latent_channels = 12


SourceConditioning = Literal["channels", "sequence"]
Prediction = Literal["source_residual", "velocity"]
_TOKEN_FEATURES = 48  # 2x2 packing of the 12-channel (2x2 unshuffled RGB) grid
#: Smallest sigma the source-residual velocity divides by.
MIN_SIGMA = 1e-3


def build_pixel_editor(
    hidden_heads: int = 4,
    head_dim: int = 16,
    layers: int = 2,
    single_layers: int = 2,
    text_dim: int = 32,
    seed: int = 0,
    conditioning: SourceConditioning = "channels",
    prediction: Prediction = "source_residual",
) -> PixelEditPipeline:
    """A freshly initialised pixel editor (random weights), in eval mode. With ``source_residual``
    the transformer's output layer starts at zero, so the new editor copies the source."""
    if head_dim % 4:
        raise ValueError(f"head_dim must be a multiple of 4, got {head_dim}")
    if conditioning not in ("channels", "sequence"):
        raise ValueError(f"conditioning must be 'channels' or 'sequence', got {conditioning!r}")
    # Rotary dims per position axis (image index, row, column); they must add up to head_dim.
    axis0 = max(2, head_dim // 8 * 2)
    axis1 = (head_dim - axis0) // 4 * 2
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=_TOKEN_FEATURES * (2 if conditioning == "channels" else 1),
        out_channels=_TOKEN_FEATURES,
        num_layers=layers,
        num_single_layers=single_layers,
        attention_head_dim=head_dim,
        num_attention_heads=hidden_heads,
        joint_attention_dim=text_dim,
        pooled_projection_dim=text_dim,
        guidance_embeds=False,
        axes_dims_rope=[axis0, axis1, head_dim - axis0 - axis1],
    )
    text_encoder = WordEmbedder(dim=text_dim)
    if prediction == "source_residual":
        torch.nn.init.zeros_(transformer.proj_out.weight)
        torch.nn.init.zeros_(transformer.proj_out.bias)
    pipe = PixelEditPipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=text_encoder,
        prediction=prediction,
    )
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

    @property
    def source_conditioning(self) -> SourceConditioning:
        """``"channels"`` when the transformer takes the source as extra input features, else
        ``"sequence"`` (editors saved before the channel option existed)."""
        c = self.transformer.config
        return "channels" if c.in_channels == 2 * (c.out_channels or c.in_channels) else "sequence"

    def predict_velocity(
        self, latents: torch.Tensor, sigma: float | torch.Tensor, condition: EditCondition
    ) -> torch.Tensor:
        b = latents.shape[0]
        if self.source_conditioning == "sequence":
            output = super().predict_velocity(latents, sigma, condition)
        else:
            if condition.batch_size != b:
                raise BackboneError(f"latents batch {b} != condition batch {condition.batch_size}")
            text = condition.text["prompt_embeds"]
            output = self.transformer(
                hidden_states=torch.cat([latents, condition.source_latents], dim=-1),
                timestep=self._sigma_vector(sigma, b),
                pooled_projections=condition.text["pooled_prompt_embeds"],
                encoder_hidden_states=text,
                txt_ids=torch.zeros(text.shape[1], 3, device=self.device, dtype=self.dtype),
                img_ids=self._position_ids(condition.height, condition.width, 0.0),
                return_dict=False,
            )[0]
        if self.pipeline.config.get("prediction", "velocity") == "velocity":
            return output
        return velocity_from_x0(latents, self._sigma_vector(sigma, b), condition.source_latents + output, MIN_SIGMA)

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
        return EditCondition(
            text=text, source_latents=source, height=height, width=width, guidance=self.resolve_guidance(guidance)
        )

    def decode(self, latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
        pixels = torch.nn.functional.pixel_shuffle(self.unpack(latents, height, width).float(), 2)
        return ((pixels + 1) / 2).clamp(0, 1)
