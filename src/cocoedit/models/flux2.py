"""FLUX.2 [klein] and FLUX.2 [dev] behind :class:`~cocoedit.models.backbone.EditBackbone`.

Both condition on the source as ``Flux2KleinPipeline`` / ``Flux2Pipeline`` do with one reference
image:

* **Latents.** The FLUX.2 VAE (8x) output is patchified 2x2 into ``4C`` channels at half the latent
  resolution, normalised by the VAE's batch-norm running statistics, and flattened row-major into
  tokens ``[B, N, 4C]``. Feature order within a token is ``(C, 2, 2)``, so :meth:`unpack` gives the
  ``[B, C, h, w]`` latent grid as for FLUX.1 (in normalised units). Initial noise is drawn in the
  patchified shape ``[B, 4C, h/2, w/2]``, as the pipelines draw it.
* **Source.** Resized to the working resolution (Lanczos), VAE-encoded (distribution mode),
  normalised, and its tokens appended after the target tokens with 4-D position ids
  ``(T, row, col, 0)``: ``T = 0`` for the target, ``T = 10`` for the source (the pipelines' first
  reference image). The stock pipelines keep the source at its own size (cropped to a multiple of
  16, at most 1 MP); we use the caller's working size, as for every backbone. The output is sliced
  back to the target tokens.
* **Text.** The pipeline's own ``encode_prompt``: a chat template, padded to
  ``max_sequence_length`` tokens (512 by default, as the pipelines), hidden states of three layers
  stacked per token; text ids ``(0, 0, 0, position)``.
* **Schedule.** ``linspace(1, 1/N, N)`` shifted with FLUX.2's empirical ``mu``
  (``compute_empirical_mu``), which depends on the token count *and the number of steps*.
* **Text encoder placement.** ``text_encoder_on_cpu`` (option, default off) keeps the text encoder
  on the CPU wherever the backbone is moved: prompts are encoded there and their embeddings moved
  to the transformer's device. FLUX.2 [dev]'s 24 B Mistral takes 45 GiB of GPU memory in bf16, the
  difference between needing a 141 GB GPU and fitting an 80 GB one; the price is a slow encoding
  per prompt (about 25 TFLOP on the CPU for 512 tokens), which the trainer caches per prompt.

They differ in guidance:

* **[klein]** (``Flux2KleinPipeline``, Qwen3 text encoder): the base checkpoints take true CFG when
  ``guidance > 1``, ``v = v_neg + s (v_cond − v_neg)`` without rescaling, with the empty negative
  prompt the pipeline always uses; the step-distilled checkpoints (``is_distilled`` in the
  pipeline config) ignore guidance. ``default_guidance`` 4.0 is the pipeline's.
* **[dev]** (``Flux2Pipeline``, Mistral Small 3.1 text encoder): guidance-distilled, the guidance
  is an *embedding* (no true CFG). ``default_guidance`` 4.0 is the pipeline's.

LoRA targets: the reference's joint-attention projections of the double-stream blocks plus the
single-stream blocks' fused ``attn.to_qkv_mlp_proj``, the FLUX.2 counterpart of the single blocks'
``to_q/k/v`` that FLUX.1's suffix match adapts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from cocoedit.models.backbone import DEFAULT_LORA_TARGETS, EditBackbone, ImageInput, as_pil_list
from cocoedit.models.condition import BackboneError, EditCondition
from cocoedit.models.files import pipeline_json, torchvision_available

#: T coordinate of the first reference image in the FLUX.2 pipelines (``_prepare_image_ids``).
SOURCE_T_COORD = 10

FLUX2_LORA_TARGETS: tuple[str, ...] = (*DEFAULT_LORA_TARGETS, "attn.to_qkv_mlp_proj")


class _Flux2Base(EditBackbone):
    default_guidance = 4.0
    default_lora_targets = FLUX2_LORA_TARGETS

    @classmethod
    def vae_scale_factor_from_config(cls, vae_config: dict) -> int | None:
        return 2 ** (len(vae_config["block_out_channels"]) - 1)  # as the FLUX.2 pipelines compute it

    def __init__(self, pipeline, max_sequence_length: int = 512, text_encoder_on_cpu: bool = False):
        super().__init__(pipeline)
        if not 1 <= max_sequence_length <= 512:
            raise BackboneError(f"max_sequence_length must be in [1, 512], got {max_sequence_length}")
        self.max_sequence_length = max_sequence_length
        self.text_encoder_on_cpu = text_encoder_on_cpu
        if text_encoder_on_cpu:
            self.cpu_components = ("text_encoder",)
            pipeline.text_encoder.to("cpu")
            self.refresh_placement()
        self._image_ids: dict[tuple[int, int], torch.Tensor] = {}

    @property
    def latent_channels(self) -> int:
        return self.pipeline.vae.config.latent_channels

    def _true_cfg(self, guidance: float) -> bool:
        return False

    # -- latents ------------------------------------------------------------------------------
    def initial_noise(
        self, batch_size: int, height: int, width: int, generator: torch.Generator | list[torch.Generator] | None = None
    ) -> torch.Tensor:
        from diffusers.utils.torch_utils import randn_tensor

        h, w = self.latent_grid(height, width)
        shape = (batch_size, 4 * self.latent_channels, h // 2, w // 2)
        noise = randn_tensor(shape, generator=generator, device=self.device, dtype=self.dtype)
        return noise.flatten(2).transpose(1, 2)

    def schedule_mu(self, num_steps: int, height: int, width: int) -> float:
        from diffusers.pipelines.flux2.pipeline_flux2 import compute_empirical_mu

        return compute_empirical_mu(self.num_tokens(height, width), num_steps)

    def _batch_norm(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vae = self.pipeline.vae
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(like.device, like.dtype)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).to(like.device, like.dtype)
        return mean, std

    def encode_source(self, images: ImageInput, height: int, width: int) -> torch.Tensor:
        self.check_resolution(height, width)
        proc = self.pipeline.image_processor
        pixels = [proc.preprocess(proc.resize(im, height, width), height, width) for im in as_pil_list(images)]
        pixels = torch.cat(pixels).to(device=self.device, dtype=self.pipeline.vae.dtype)
        with torch.no_grad():
            latents = self.pipeline._encode_vae_image(pixels, generator=None)  # [B, 4C, h/2, w/2], normalised
        return latents.flatten(2).transpose(1, 2).to(self.dtype)

    def decode(self, latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
        vae = self.pipeline.vae
        h, w = self.latent_grid(height, width)
        b, n, d = latents.shape
        if n != (h // 2) * (w // 2):
            raise BackboneError(f"packed latents {tuple(latents.shape)} do not fit a {height}x{width} image")
        patched = latents.transpose(1, 2).reshape(b, d, h // 2, w // 2).to(vae.dtype)
        mean, std = self._batch_norm(patched)
        grid = self.pipeline._unpatchify_latents(patched * std + mean)
        with torch.no_grad():
            images = vae.decode(grid, return_dict=False)[0]
        return (images.float() / 2 + 0.5).clamp(0, 1)

    # -- conditioning -------------------------------------------------------------------------
    def _encode_text(self, prompts: list[str]) -> torch.Tensor:
        encoder_device = torch.device("cpu") if self.text_encoder_on_cpu else self.device
        with torch.no_grad():
            embeds, _ = self.pipeline.encode_prompt(
                prompt=prompts, device=encoder_device, max_sequence_length=self.max_sequence_length
            )
        return embeds.to(self.device, self.dtype)

    def encode_condition(
        self,
        instructions: str | Sequence[str],
        images: ImageInput,
        height: int,
        width: int,
        guidance: float | None = None,
        negative_instruction: str | None = None,
    ) -> EditCondition:
        prompts = [instructions] if isinstance(instructions, str) else list(instructions)
        source = self.encode_source(images, height, width)
        if len(prompts) != source.shape[0]:
            raise BackboneError(f"{len(prompts)} instructions for {source.shape[0]} source images")
        guidance = self.resolve_guidance(guidance)
        negative = None
        if self._true_cfg(guidance):
            negative_prompt = self.resolve_negative_instruction(negative_instruction)
            negative = {"prompt_embeds": self._encode_text([negative_prompt] * len(prompts))}
        return EditCondition(
            text={"prompt_embeds": self._encode_text(prompts)},
            negative_text=negative,
            source_latents=source,
            height=height,
            width=width,
            guidance=guidance,
        )

    def _ids(self, height: int, width: int) -> torch.Tensor:
        """Position ids ``[N + N_src, 4]`` of the target tokens then the source tokens."""
        h, w = self.latent_grid(height, width)
        key = (h, w)
        if key not in self._image_ids:
            grid = torch.empty(1, 1, h // 2, w // 2)
            target = self.pipeline._prepare_latent_ids(grid)[0]
            source = self.pipeline._prepare_image_ids([grid], scale=SOURCE_T_COORD)[0]
            self._image_ids[key] = torch.cat([target, source], dim=0)
        return self._image_ids[key].to(self.device)

    def _forward(self, hidden, timestep, prompt_embeds, img_ids, guidance) -> torch.Tensor:
        text_ids = self.pipeline._prepare_text_ids(prompt_embeds[:1])[0].to(self.device)
        return self.transformer(
            hidden_states=hidden,
            timestep=timestep,
            guidance=guidance,
            encoder_hidden_states=prompt_embeds,
            txt_ids=text_ids,
            img_ids=img_ids,
            return_dict=False,
        )[0]

    def predict_velocity(
        self, latents: torch.Tensor, sigma: float | torch.Tensor, condition: EditCondition
    ) -> torch.Tensor:
        b, n, _ = latents.shape
        if condition.batch_size != b:
            raise BackboneError(f"latents batch {b} != condition batch {condition.batch_size}")
        hidden = torch.cat([latents, condition.source_latents], dim=1)
        timestep = self._sigma_vector(sigma, b)
        img_ids = self._ids(condition.height, condition.width)
        guidance = None
        if self.transformer.config.guidance_embeds:
            guidance = torch.full((b,), condition.guidance, device=self.device, dtype=torch.float32)
        v = self._forward(hidden, timestep, condition.text["prompt_embeds"], img_ids, guidance)[:, :n]
        if condition.negative_text is None:
            return v
        v_neg = self._forward(hidden, timestep, condition.negative_text["prompt_embeds"], img_ids, guidance)[:, :n]
        return v_neg + condition.guidance * (v - v_neg)


class Flux2KleinBackbone(_Flux2Base):
    """FLUX.2 [klein] (``Flux2KleinPipeline``): true CFG on the base checkpoints, none on the
    step-distilled ones."""

    kind = "flux2-klein"
    pipeline_class_name = "Flux2KleinPipeline"
    default_negative_instruction = ""  # the pipeline's fixed negative prompt

    @property
    def is_distilled(self) -> bool:
        return bool(self.pipeline.config.get("is_distilled", False))

    def _true_cfg(self, guidance: float) -> bool:
        return guidance > 1.0 and not self.is_distilled


class Flux2Backbone(_Flux2Base):
    """FLUX.2 [dev] (``Flux2Pipeline``): the guidance embedding, no true CFG."""

    kind = "flux2"
    pipeline_class_name = "Flux2Pipeline"
    components_set_after_load = ("tokenizer",)

    @classmethod
    def component_overrides(cls, model: str | Path, dtype: torch.dtype) -> dict[str, Any]:
        """The real checkpoint's ``tokenizer`` component is a Pixtral processor, which transformers
        cannot import without torchvision; only its text path is used, so its tokenizer (same
        folder, same chat template) is loaded in its place."""
        index = pipeline_json(model, "model_index.json") or {}
        if index.get("tokenizer", [None, None])[1] != "PixtralProcessor" or torchvision_available():
            return {}
        from transformers import AutoTokenizer

        return {"tokenizer": AutoTokenizer.from_pretrained(str(model), subfolder="tokenizer")}
