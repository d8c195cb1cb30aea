"""Qwen-Image-Edit (original) and Qwen-Image-Edit-2509 behind the backbone interface.

Both condition on the source twice (method.md §e.3):

* **VAE branch**: the source resized to the working resolution, encoded by the Qwen (Wan-style)
  VAE, normalised with the config's ``latents_mean/std``, 2×2-packed and concatenated after the
  noisy target tokens; ``img_shapes = [(1, h/2, w/2) target, (1, h/2, w/2) source]`` per sample.
* **Vision-language branch**: the Qwen2.5-VL text encoder reads the instruction with the source
  image inside the pipeline's system template; the first ``prompt_template_encode_start_idx``
  hidden states (the template prefix) are dropped. Prompts of different lengths are zero-padded
  with an attention mask.

The two differ in the VL image: the original Qwen-Image-Edit (``QwenImageEditPipeline``) gives
the VL encoder the same image as the VAE; 2509 (``QwenImageEditPlusPipeline``) gives it the source
resized to ``condition_area`` pixels (default 384², aspect kept, sides multiples of 32) and
prefixes ``"Picture 1: "``.

Guidance is true CFG: when ``guidance > 1`` the negative instruction (default ``" "``, the
reference benchmark scripts' value) is encoded with the same image, and
``v = v_neg + s (v_cond − v_neg)`` is rescaled per token to ``‖v_cond‖`` (norm over channels).
``default_guidance`` is 1.0 (no CFG), the reference RL setting; its benchmarks use 4.0.

Departures from the diffusers pipelines: the VAE image is at the caller's working resolution,
not the pipelines' hard-coded ~1024² area; the 2509 VL image area is a constructor option. The
reference RL code truncates/pads prompts to 256 tokens; like diffusers, we do not truncate.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

# Imported so diffusers can load pipelines whose processor is this class (the tiny test models
# and folders saved from them name it in model_index.json; diffusers loads only imported modules).
import cocoedit.core.qwen_processor  # noqa: F401
from cocoedit.models.backbone import EditBackbone, ImageInput, as_pil_list
from cocoedit.models.condition import BackboneError, EditCondition


def condition_dimensions(area: int, aspect: float) -> tuple[int, int]:
    """``(width, height)`` with about ``area`` pixels, ``width/height ≈ aspect``, multiples of 32.

    Same rounding as diffusers' Qwen ``calculate_dimensions``.
    """
    width = (area * aspect) ** 0.5
    height = width / aspect
    return int(round(width / 32) * 32), int(round(height / 32) * 32)


class _QwenEditBase(EditBackbone):
    default_guidance = 1.0

    @classmethod
    def vae_scale_factor_from_config(cls, vae_config: dict) -> int | None:
        return 2 ** len(vae_config["temperal_downsample"])  # as the QwenImageEdit pipelines compute it

    def _vl_images(self, images, height: int, width: int) -> list:
        raise NotImplementedError

    def _encode_prompts(self, prompts: list[str], vl_images: list) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample prompt embeddings, zero-padded to a common length, and their 0/1 mask."""
        embeds, masks = [], []
        with torch.no_grad():
            for prompt, image in zip(prompts, vl_images, strict=True):
                e, m = self.pipeline.encode_prompt(prompt=[prompt], image=image, device=self.device)
                embeds.append(e.to(self.dtype))
                masks.append(torch.ones(e.shape[:2], dtype=torch.long, device=e.device) if m is None else m.long())
        longest = max(e.shape[1] for e in embeds)
        embeds = [torch.cat([e, e.new_zeros(1, longest - e.shape[1], e.shape[2])], dim=1) for e in embeds]
        masks = [torch.cat([m, m.new_zeros(1, longest - m.shape[1])], dim=1) for m in masks]
        return torch.cat(embeds), torch.cat(masks)

    def encode_source(self, images: ImageInput, height: int, width: int) -> torch.Tensor:
        self.check_resolution(height, width)
        proc = self.pipeline.image_processor
        pixels = torch.cat([proc.preprocess(im, height, width) for im in as_pil_list(images)])
        pixels = pixels.unsqueeze(2).to(device=self.device, dtype=self.pipeline.vae.dtype)  # [B, 3, 1, H, W]
        with torch.no_grad():
            latents = self.pipeline._encode_vae_image(pixels, generator=None)
        return self.pack(latents[:, :, 0].to(self.dtype))

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
        pil = as_pil_list(images)
        if len(prompts) != len(pil):
            raise BackboneError(f"{len(prompts)} instructions for {len(pil)} source images")
        guidance = self.resolve_guidance(guidance)
        vl = self._vl_images(pil, height, width)
        embeds, mask = self._encode_prompts(prompts, vl)
        negative = None
        if guidance > 1.0:
            negative_instruction = self.resolve_negative_instruction(negative_instruction)
            neg_embeds, neg_mask = self._encode_prompts([negative_instruction] * len(prompts), vl)
            negative = {"prompt_embeds": neg_embeds, "prompt_embeds_mask": neg_mask}
        return EditCondition(
            text={"prompt_embeds": embeds, "prompt_embeds_mask": mask},
            negative_text=negative,
            source_latents=self.encode_source(pil, height, width),
            height=height,
            width=width,
            guidance=guidance,
        )

    def _forward(self, hidden: torch.Tensor, timestep: torch.Tensor, text: dict, img_shapes) -> torch.Tensor:
        mask = text["prompt_embeds_mask"]
        return self.transformer(
            hidden_states=hidden,
            timestep=timestep,
            encoder_hidden_states=text["prompt_embeds"],
            # An all-ones mask is passed as None, as the pipelines do (same numbers, faster path).
            encoder_hidden_states_mask=None if bool(mask.all()) else mask,
            img_shapes=img_shapes,
            return_dict=False,
        )[0]

    def predict_velocity(
        self, latents: torch.Tensor, sigma: float | torch.Tensor, condition: EditCondition
    ) -> torch.Tensor:
        b, n, _ = latents.shape
        if condition.batch_size != b:
            raise BackboneError(f"latents batch {b} != condition batch {condition.batch_size}")
        h, w = self.latent_grid(condition.height, condition.width)
        img_shapes = [[(1, h // 2, w // 2), (1, h // 2, w // 2)]] * b
        hidden = torch.cat([latents, condition.source_latents], dim=1)
        timestep = self._sigma_vector(sigma, b)
        v = self._forward(hidden, timestep, condition.text, img_shapes)[:, :n]
        if condition.negative_text is None:
            return v
        v_neg = self._forward(hidden, timestep, condition.negative_text, img_shapes)[:, :n]
        combined = v_neg + condition.guidance * (v - v_neg)
        return combined * (v.norm(dim=-1, keepdim=True) / combined.norm(dim=-1, keepdim=True))

    def decode(self, latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
        vae = self.pipeline.vae
        grid = self.unpack(latents, height, width).unsqueeze(2).to(vae.dtype)  # [B, C, 1, h, w]
        mean = torch.tensor(vae.config.latents_mean, device=grid.device, dtype=grid.dtype).view(1, -1, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std, device=grid.device, dtype=grid.dtype).view(1, -1, 1, 1, 1)
        with torch.no_grad():
            images = vae.decode(grid * std + mean, return_dict=False)[0][:, :, 0]
        return (images.float() / 2 + 0.5).clamp(0, 1)


class QwenImageEditBackbone(_QwenEditBase):
    """The original Qwen-Image-Edit: one image, at the working resolution, for VAE and VL."""

    kind = "qwen-image-edit"
    pipeline_class_name = "QwenImageEditPipeline"

    def _vl_images(self, images, height: int, width: int) -> list:
        self.check_resolution(height, width)
        return [self.pipeline.image_processor.resize(im, height, width) for im in images]


class QwenImageEditPlusBackbone(_QwenEditBase):
    """Qwen-Image-Edit-2509 (``QwenImageEditPlusPipeline``): VL image at ``condition_area`` pixels."""

    kind = "qwen-image-edit-plus"
    pipeline_class_name = "QwenImageEditPlusPipeline"

    def __init__(self, pipeline, condition_area: int = 384 * 384):
        super().__init__(pipeline)
        if condition_area < 32 * 32:
            raise BackboneError(f"condition_area must be at least 32*32 pixels, got {condition_area}")
        self.condition_area = condition_area

    def _vl_images(self, images, height: int, width: int) -> list:
        out = []
        for im in images:
            cw, ch = condition_dimensions(self.condition_area, im.width / im.height)
            # The Plus pipeline passes a list of condition images per prompt ("Picture 1: ...").
            out.append([self.pipeline.image_processor.resize(im, ch, cw)])
        return out
