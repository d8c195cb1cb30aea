"""Editing with a backbone and a sampler: condition -> noise -> sample -> decode."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from cocoedit.models.backbone import EditBackbone, ImageInput
from cocoedit.models.condition import EditCondition
from cocoedit.models.samplers import SamplerOutput, sample


def sample_latents(
    backbone: EditBackbone,
    condition: EditCondition,
    num_steps: int,
    sampler: str = "euler",
    generator: torch.Generator | list[torch.Generator] | None = None,
    noise_level: float = 0.7,
    return_trajectory: bool = False,
) -> SamplerOutput:
    """Packed edited latents for a condition, from the stock pipeline's initial noise.

    The initial noise is drawn from ``generator`` first (as the stock pipelines do), then the SDE
    sampler, if chosen, draws its step noise from the same generator (one per sample when a list
    is given).
    """
    h, w = condition.height, condition.width
    noise = backbone.initial_noise(condition.batch_size, h, w, generator)
    sigmas = backbone.sigma_schedule(num_steps, h, w)

    def velocity(x: torch.Tensor, sigma: float) -> torch.Tensor:
        return backbone.predict_velocity(x, sigma, condition)

    with torch.no_grad():
        return sample(sampler, velocity, noise, sigmas, return_trajectory, noise_level, generator)


def edit_images(
    backbone: EditBackbone,
    instructions: str | Sequence[str],
    images: ImageInput,
    height: int,
    width: int,
    num_steps: int,
    guidance: float | None = None,
    sampler: str = "euler",
    generator: torch.Generator | list[torch.Generator] | None = None,
    noise_level: float = 0.7,
    negative_instruction: str | None = None,
) -> torch.Tensor:
    """Edited images ``[B, 3, height, width]`` in [0, 1], one per (instruction, image) pair."""
    condition = backbone.encode_condition(
        instructions, images, height, width, guidance=guidance, negative_instruction=negative_instruction
    )
    latents = sample_latents(backbone, condition, num_steps, sampler, generator, noise_level).sample
    return backbone.decode(latents, height, width)
