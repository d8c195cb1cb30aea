"""Qwen-Image-2.1 (``QwenImage21Pipeline``) behind :class:`~cocoedit.models.backbone.EditBackbone`.

Qwen-Image-2.1 generates and edits in one model. It conditions on the source as the pipeline does
with one condition image:

* **VAE branch.** The source, resized to the working resolution and converted to RGBA (the VAE
  reads four channels; an opaque source gets alpha 1), encoded by the 16x VAE, normalised with
  ``latents_mean/std``. Latents are *not* patchified: one token per latent pixel, ``[B, h·w, C]``,
  so :meth:`pack` is a row-major flatten. The source tokens come **before** the target tokens;
  ``img_shapes`` lists the source then the target, and the output is sliced to the last ``N``.
* **Vision-language branch.** Qwen3-VL reads the instruction after ``<image1>`` and the same
  resized image inside the pipeline's template (``encode_prompt``); the system prefix is dropped.
  Each of its image tokens covers 32x32 pixels, and the single-stream transformer substitutes the
  2x2 source latents into those slots (``img_mask``). So the working size must give the processor
  exactly one image token per 32x32 pixels: it must lie within the processor's pixel limits
  (Qwen3-VL's minimum is 256², so working sizes below that are refused).
* **Guidance.** True CFG when ``guidance > 1``, ``v = v_neg + s (v_cond − v_neg)`` without
  rescaling, with the negative instruction encoded with the same image (default ``" "``, as the
  Qwen pipelines; Qwen-Image-2.1's own pipeline has no default and is meant to be sampled without
  guidance). ``default_guidance`` 1.0, the pipeline's.
* **Schedule.** The pipeline config's ``sample_sigmas`` when set and of the requested length,
  else ``linspace(1, 1/N, N)``; shifted with ``mu`` interpolated from the target token count.

Its rotary positions advance over every text position, padding included, before the target
image; a batch whose prompts have different lengths is therefore run as one forward per length,
each trimmed to its own tokens, so that a sample's velocity never depends on its batch mates. The
number of transformer calls then depends on the batch, which sharded (``fsdp2``) training cannot
allow: the trainer refuses it for this backbone (``transformer_calls_vary``).

The pipeline's KV cache of text and source keys (valid because those tokens are modulated at
``t = 0``) is an inference speed-up that we do not use: every forward recomputes them, which
training needs anyway. LoRA targets: the attention projections of the single-stream blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

# Imported so diffusers can load pipelines whose processor is the image-only class (the tiny test
# models name it in model_index.json; diffusers loads only imported modules).
import cocoedit.core.qwen_processor  # noqa: F401
from cocoedit.models.backbone import EditBackbone, ImageInput, as_pil_list
from cocoedit.models.condition import BackboneError, EditCondition
from cocoedit.models.files import pipeline_json, torchvision_available

QWEN21_LORA_TARGETS: tuple[str, ...] = ("attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0")


def _pixel_limits(image_processor_config: dict[str, Any]) -> tuple[int, int] | None:
    """``(min_pixels, max_pixels)`` of a Qwen2-VL-style image processor config, if it says."""
    size = image_processor_config.get("size") or {}
    low = size.get("shortest_edge", image_processor_config.get("min_pixels"))
    high = size.get("longest_edge", image_processor_config.get("max_pixels"))
    return (int(low), int(high)) if low is not None and high is not None else None


def _check_pixels(kind: str, height: int, width: int, limits: tuple[int, int] | None) -> None:
    if limits is not None and not limits[0] <= height * width <= limits[1]:
        raise BackboneError(
            f"{kind}: working size {height}x{width} ({height * width} pixels) is outside the vision-language "
            f"processor's {limits[0]}..{limits[1]} pixels, so its image tokens would not match the source latents"
        )


class QwenImage21Backbone(EditBackbone):
    kind = "qwen-image-2.1"
    pipeline_class_name = "QwenImage21Pipeline"
    default_guidance = 1.0
    default_lora_targets = QWEN21_LORA_TARGETS
    transformer_calls_vary = True  # one forward per prompt length (see the module doc)

    @classmethod
    def vae_scale_factor_from_config(cls, vae_config: dict) -> int | None:
        declared = vae_config.get("scale_factor_spatial")
        return int(declared) if declared else 2 ** (len(vae_config["dim_mult"]) - 1)

    @classmethod
    def check_working_size_from_files(
        cls, read_json: Callable[[str], dict[str, Any] | None], height: int, width: int
    ) -> None:
        super().check_working_size_from_files(read_json, height, width)
        processor = read_json("processor/processor_config.json") or {}
        image_processor = processor.get("image_processor") or read_json("processor/preprocessor_config.json")
        if image_processor:
            _check_pixels(cls.kind, height, width, _pixel_limits(image_processor))

    @classmethod
    def component_overrides(cls, model: str | Path, dtype: torch.dtype) -> dict[str, Any]:
        """The real checkpoint names ``Qwen3VLProcessor``, whose video processor needs torchvision;
        without torchvision its files are loaded into the image-only processor."""
        index = pipeline_json(model, "model_index.json") or {}
        if index.get("processor", [None, None])[1] != "Qwen3VLProcessor" or torchvision_available():
            return {}
        from cocoedit.core.qwen_processor import Qwen3VLImageOnlyProcessor

        return {"processor": Qwen3VLImageOnlyProcessor.from_pretrained(str(model), subfolder="processor")}

    def __init__(self, pipeline):
        super().__init__(pipeline)
        factor = self.vae_scale_factor_from_config(dict(pipeline.vae.config))
        if factor != pipeline.vae_scale_factor:
            raise BackboneError(
                f"{self.kind}: the VAE compresses {factor}x, but QwenImage21Pipeline assumes "
                f"{pipeline.vae_scale_factor}x"
            )

    @property
    def vae_scale_factor(self) -> int:
        return self.vae_scale_factor_from_config(dict(self.pipeline.vae.config))

    @property
    def latent_channels(self) -> int:
        return self.pipeline.vae.config.z_dim

    def check_resolution(self, height: int, width: int) -> None:
        super().check_resolution(height, width)
        _check_pixels(self.kind, height, width, _pixel_limits(self.pipeline.processor.image_processor.to_dict()))

    def num_tokens(self, height: int, width: int) -> int:
        h, w = self.latent_grid(height, width)
        return h * w

    def pack(self, latents: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` -> ``[B, h·w, C]`` (one token per latent pixel, row-major)."""
        if latents.ndim != 4:
            raise BackboneError(f"expected latents [B, C, h, w], got shape {tuple(latents.shape)}")
        return latents.flatten(2).transpose(1, 2)

    def unpack(self, packed: torch.Tensor, height: int, width: int) -> torch.Tensor:
        h, w = self.latent_grid(height, width)
        if packed.ndim != 3 or packed.shape[1] != h * w:
            raise BackboneError(f"packed latents {tuple(packed.shape)} do not fit a {h}x{w} latent grid")
        return packed.transpose(1, 2).reshape(packed.shape[0], packed.shape[2], h, w)

    def unshifted_sigmas(self, num_steps: int):
        configured = self.pipeline.config.get("sample_sigmas")
        if configured is not None and len(configured) == num_steps:
            return list(configured)
        return super().unshifted_sigmas(num_steps)

    # -- conditioning -------------------------------------------------------------------------
    def _resized(self, images: ImageInput, height: int, width: int) -> list:
        self.check_resolution(height, width)
        proc = self.pipeline.image_processor
        return [proc.resize(im.convert("RGBA"), height, width) for im in as_pil_list(images)]

    def encode_source(self, images: ImageInput, height: int, width: int) -> torch.Tensor:
        return self._encode_resized(self._resized(images, height, width), height, width)

    def _encode_resized(self, resized: list, height: int, width: int) -> torch.Tensor:
        proc = self.pipeline.image_processor
        pixels = torch.cat([proc.preprocess(im, height, width) for im in resized]).unsqueeze(2)  # [B, 4, 1, H, W]
        with torch.no_grad():
            latents = self.pipeline._encode_vae_image(pixels.to(self.device, self.pipeline.vae.dtype), None)
        return self.pack(latents[:, :, 0].to(self.dtype))

    def _encode_prompts(self, prompts: list[str], resized: list, slots: int) -> dict[str, torch.Tensor]:
        """Per-sample embeddings zero-padded to a common length, their 0/1 mask and image-slot mask."""
        rows = []
        with torch.no_grad():
            for prompt, image in zip(prompts, resized, strict=True):
                embeds, mask, image_pad = self.pipeline.encode_prompt([prompt], image=[image], device=self.device)
                if int(image_pad.sum()) != slots:
                    raise BackboneError(
                        f"{self.kind}: the vision-language processor gave {int(image_pad.sum())} image tokens for a "
                        f"{image.height}x{image.width} source, the transformer needs {slots} (one per 32x32 pixels)"
                    )
                mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device) if mask is None else mask
                rows.append((embeds.to(self.dtype), mask.long(), image_pad.bool()))
        longest = max(e.shape[1] for e, _, _ in rows)

        def padded(t: torch.Tensor) -> torch.Tensor:
            return torch.cat([t, t.new_zeros((1, longest - t.shape[1], *t.shape[2:]))], dim=1)

        return {
            "prompt_embeds": torch.cat([padded(e) for e, _, _ in rows]),
            "prompt_embeds_mask": torch.cat([padded(m) for _, m, _ in rows]),
            "image_pad_mask": torch.cat([padded(p) for _, _, p in rows]),
        }

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
        resized = self._resized(images, height, width)
        if len(prompts) != len(resized):
            raise BackboneError(f"{len(prompts)} instructions for {len(resized)} source images")
        guidance = self.resolve_guidance(guidance)
        slots = self.num_tokens(height, width) // 4
        negative = None
        if guidance > 1.0:
            negative_prompt = self.resolve_negative_instruction(negative_instruction)
            negative = self._encode_prompts([negative_prompt] * len(prompts), resized, slots)
        return EditCondition(
            text=self._encode_prompts(prompts, resized, slots),
            negative_text=negative,
            source_latents=self._encode_resized(resized, height, width),
            height=height,
            width=width,
            guidance=guidance,
        )

    # -- velocity -----------------------------------------------------------------------------
    def _forward(self, latents, source, timestep, text: dict, grid: tuple[int, int]) -> torch.Tensor:
        """Target-token output for samples whose texts all have the same length (no padding)."""
        b, n, _ = latents.shape
        slots = text["image_pad_mask"]
        out = self.transformer(
            hidden_states=torch.cat([source, latents], dim=1),
            encoder_hidden_states=text["prompt_embeds"],
            timestep=timestep,
            img_shapes=[[(1, *grid), (1, *grid)]] * b,
            img_mask=torch.cat([slots, slots.new_ones(b, n // 4)], dim=1),
            return_dict=False,
        )[0]
        return out[:, -n:]

    def _velocity(self, latents, source, timestep, text: dict, grid: tuple[int, int]) -> torch.Tensor:
        lengths = text["prompt_embeds_mask"].sum(dim=1)
        if bool((lengths == text["prompt_embeds_mask"].shape[1]).all()):
            return self._forward(latents, source, timestep, text, grid)
        out = latents.new_empty(latents.shape)
        for length in lengths.unique().tolist():
            idx = (lengths == length).nonzero(as_tuple=True)[0]
            trimmed = {k: v[idx, :length] for k, v in text.items()}
            out[idx] = self._forward(latents[idx], source[idx], timestep[idx], trimmed, grid)
        return out

    def predict_velocity(
        self, latents: torch.Tensor, sigma: float | torch.Tensor, condition: EditCondition
    ) -> torch.Tensor:
        b = latents.shape[0]
        if condition.batch_size != b:
            raise BackboneError(f"latents batch {b} != condition batch {condition.batch_size}")
        grid = self.latent_grid(condition.height, condition.width)
        timestep = self._sigma_vector(sigma, b)
        source = condition.source_latents
        v = self._velocity(latents, source, timestep, condition.text, grid)
        if condition.negative_text is None:
            return v
        v_neg = self._velocity(latents, source, timestep, condition.negative_text, grid)
        return v_neg + condition.guidance * (v - v_neg)

    def decode(self, latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Images ``[B, 3, H, W]``: the VAE decodes RGBA; the alpha channel is dropped."""
        vae = self.pipeline.vae
        grid = self.unpack(latents, height, width).unsqueeze(2).to(vae.dtype)  # [B, C, 1, h, w]
        mean = torch.tensor(vae.config.latents_mean, device=grid.device, dtype=grid.dtype).view(1, -1, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std, device=grid.device, dtype=grid.dtype).view(1, -1, 1, 1, 1)
        with torch.no_grad():
            images = vae.decode(grid * std + mean, return_dict=False)[0][:, :3, 0]
        return (images.float() / 2 + 0.5).clamp(0, 1)
