"""The stock diffusers pipelines called the way a backbone edits, for parity tests.

:data:`TINY_OPTIONS` are the backbone options the tests give the tiny models (text padded to 48
tokens instead of 512, the 2509 vision-language image at 56²); :func:`stock_edit` calls a stock
pipeline with the settings that a backbone built with those options and the same guidance uses,
so that ``edit_images`` and the stock call must give the same image from the same seed. The Qwen
edit pipelines resize to a hard-coded ~1024² area: patch their constants first (the
``small_qwen_constants`` test fixture).
"""

from __future__ import annotations

from typing import Any

import torch

TEXT_TOKENS = 48

TINY_OPTIONS: dict[str, dict[str, Any]] = {
    "kontext": {"max_sequence_length": TEXT_TOKENS},
    "flux2-klein": {"max_sequence_length": TEXT_TOKENS},
    "flux2": {"max_sequence_length": TEXT_TOKENS},
    "qwen-image-edit-plus": {"condition_area": 56 * 56},
}


def stock_edit(
    pipe,
    kind: str,
    image,
    prompt: str,
    *,
    steps: int,
    guidance: float,
    seed: int,
    height: int,
    width: int,
    text_tokens: int = TEXT_TOKENS,
) -> torch.Tensor:
    """The stock pipeline's edit as RGB ``[B, 3, height, width]`` in [0, 1] (Qwen-Image-2.1 decodes
    RGBA; its alpha is dropped, as the backbone drops it). ``text_tokens`` is the padded text length
    of Kontext and FLUX.2: :data:`TEXT_TOKENS` as in :data:`TINY_OPTIONS`, 512 as a backbone built
    without options (``cocoedit edit``)."""
    size: dict[str, Any] = {"height": height, "width": width}
    if kind == "kontext":
        extra = dict(max_area=height * width, _auto_resize=False, max_sequence_length=text_tokens)
        extra["guidance_scale"] = guidance
    elif kind in ("flux2-klein", "flux2"):
        extra = dict(guidance_scale=guidance, max_sequence_length=text_tokens)
    else:
        extra = dict(true_cfg_scale=guidance, negative_prompt=" " if guidance > 1 else None)
        if kind == "qwen-image-2.1":  # the size follows the source's aspect at about output_resolution² pixels
            size = {"output_resolution": round((height * width) ** 0.5)}
    return pipe(
        image=image,
        prompt=prompt,
        num_inference_steps=steps,
        output_type="pt",
        generator=torch.Generator().manual_seed(seed),
        **size,
        **extra,
    ).images[:, :3]
