"""FLUX.1 Kontext behind :class:`~cocoedit.models.backbone.EditBackbone`.

Conditioning (method.md §e.3): the source is resized to the working resolution (Lanczos, no
snapping to ``PREFERRED_KONTEXT_RESOLUTIONS``, i.e. the pipeline's ``_auto_resize=False``),
VAE-encoded (``(z − shift)·scale``, distribution mode) and 2×2-packed; its tokens follow the noisy
target tokens along the sequence axis with position ids whose first component is 1 (target: 0).
Text: CLIP pooled output + T5 token embeddings (``max_sequence_length`` tokens), text ids zero.
Guidance is the distilled guidance *embedding* (no true CFG); ``default_guidance`` 2.5 is the
reference training value (the diffusers pipeline's own default is 3.5).

Equal to ``FluxKontextPipeline(image, prompt, height=H, width=W, max_area=H*W,
_auto_resize=False, guidance_scale=g, max_sequence_length=L)`` with the Euler sampler.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from cocoedit.models.backbone import EditBackbone, ImageInput, as_pil_list
from cocoedit.models.condition import BackboneError, EditCondition


class KontextBackbone(EditBackbone):
    kind = "kontext"
    pipeline_class_name = "FluxKontextPipeline"
    default_guidance = 2.5

    @classmethod
    def vae_scale_factor_from_config(cls, vae_config: dict) -> int | None:
        return 2 ** (len(vae_config["block_out_channels"]) - 1)  # as FluxKontextPipeline computes it

    def __init__(self, pipeline, max_sequence_length: int = 512):
        super().__init__(pipeline)
        if not 1 <= max_sequence_length <= 512:
            raise BackboneError(f"max_sequence_length must be in [1, 512], got {max_sequence_length}")
        self.max_sequence_length = max_sequence_length

    def _position_ids(self, height: int, width: int, first: float) -> torch.Tensor:
        h, w = self.latent_grid(height, width)
        ids = self.pipeline._prepare_latent_image_ids(1, h // 2, w // 2, self.device, self.dtype)
        ids[..., 0] = first
        return ids

    def encode_source(self, images: ImageInput, height: int, width: int) -> torch.Tensor:
        self.check_resolution(height, width)
        proc = self.pipeline.image_processor
        pixels = [proc.preprocess(proc.resize(im, height, width), height, width) for im in as_pil_list(images)]
        pixels = torch.cat(pixels).to(device=self.device, dtype=self.dtype)
        with torch.no_grad():
            latents = self.pipeline._encode_vae_image(pixels.to(self.pipeline.vae.dtype), generator=None)
        return self.pack(latents.to(self.dtype))

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
        with torch.no_grad():
            prompt_embeds, pooled, _ = self.pipeline.encode_prompt(
                prompt=prompts, prompt_2=None, device=self.device, max_sequence_length=self.max_sequence_length
            )
        return EditCondition(
            text={"prompt_embeds": prompt_embeds.to(self.dtype), "pooled_prompt_embeds": pooled.to(self.dtype)},
            source_latents=source,
            height=height,
            width=width,
            guidance=self.resolve_guidance(guidance),
        )

    def predict_velocity(
        self, latents: torch.Tensor, sigma: float | torch.Tensor, condition: EditCondition
    ) -> torch.Tensor:
        b, n, _ = latents.shape
        if condition.batch_size != b:
            raise BackboneError(f"latents batch {b} != condition batch {condition.batch_size}")
        h, w = condition.height, condition.width
        ids = torch.cat([self._position_ids(h, w, 0.0), self._position_ids(h, w, 1.0)], dim=0)
        guidance = None
        if self.transformer.config.guidance_embeds:
            guidance = torch.full((b,), condition.guidance, device=self.device, dtype=torch.float32)
        text = condition.text["prompt_embeds"]
        out = self.transformer(
            hidden_states=torch.cat([latents, condition.source_latents], dim=1),
            timestep=self._sigma_vector(sigma, b),
            guidance=guidance,
            pooled_projections=condition.text["pooled_prompt_embeds"],
            encoder_hidden_states=text,
            txt_ids=torch.zeros(text.shape[1], 3, device=self.device, dtype=self.dtype),
            img_ids=ids,
            return_dict=False,
        )[0]
        return out[:, :n]

    def decode(self, latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
        vae = self.pipeline.vae
        grid = self.unpack(latents, height, width)
        grid = grid / vae.config.scaling_factor + vae.config.shift_factor
        with torch.no_grad():
            images = vae.decode(grid.to(vae.dtype), return_dict=False)[0]
        return (images.float() / 2 + 0.5).clamp(0, 1)
