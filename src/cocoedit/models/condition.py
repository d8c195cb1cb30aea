"""Packed latents and the conditioning of an edit, shared by every backbone.

* :func:`pack_latents` / :func:`unpack_latents`: latent grid ``[B, C, h, w]`` <-> packed tokens
  ``[B, (h/2)(w/2), 4C]`` (2x2 patches), as in the diffusers Flux and Qwen-Image pipelines.
* :class:`EditCondition`: everything besides the noisy latents that a velocity prediction needs
  (text embeddings, optional negative embeddings, packed source latents), batched.
* :func:`as_pil_list`: the source images a backbone conditions on, as PIL images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from PIL import Image

from cocoedit.core.errors import CocoEditError
from cocoedit.core.images import tensor_to_pil


class BackboneError(CocoEditError):
    """A backbone was asked for something its model cannot do (bad resolution, bad inputs)."""


def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    """Latent grid ``[B, C, h, w]`` -> packed tokens ``[B, (h/2)(w/2), 4C]`` (2×2 patches).

    Token order is row-major over the ``(h/2, w/2)`` patch grid; within a token the features are
    ordered ``(C, 2, 2)``, as in the diffusers Flux and Qwen-Image pipelines.
    """
    if latents.ndim != 4:
        raise BackboneError(f"expected latents [B, C, h, w], got shape {tuple(latents.shape)}")
    b, c, h, w = latents.shape
    if h % 2 or w % 2:
        raise BackboneError(f"latent grid {h}x{w} is not divisible by the 2x2 packing")
    x = latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack_latents(packed: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Packed tokens ``[B, N, 4C]`` -> latent grid ``[B, C, h, w]`` with ``grid = (h, w)``."""
    if packed.ndim != 3:
        raise BackboneError(f"expected packed latents [B, N, D], got shape {tuple(packed.shape)}")
    b, n, d = packed.shape
    h, w = grid
    if n != (h // 2) * (w // 2) or d % 4:
        raise BackboneError(f"packed latents {tuple(packed.shape)} do not fit a {h}x{w} latent grid")
    x = packed.view(b, h // 2, w // 2, d // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, d // 4, h, w)


def _cat_padded(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate along dim 0, zero-padding dim 1 (sequence) to the longest when lengths differ."""
    if tensors[0].ndim < 2 or len({t.shape[1] for t in tensors}) == 1:
        return torch.cat(list(tensors), dim=0)
    longest = max(t.shape[1] for t in tensors)
    padded = []
    for t in tensors:
        pad = t.new_zeros((t.shape[0], longest - t.shape[1], *t.shape[2:]))
        padded.append(torch.cat([t, pad], dim=1))
    return torch.cat(padded, dim=0)


@dataclass(frozen=True)
class EditCondition:
    """Everything besides the noisy latents that a velocity prediction needs, for a batch.

    ``text`` / ``negative_text`` hold backbone-specific tensors, all with the batch on dim 0;
    sequence tensors (dim 1) are zero-padded when conditions with different text lengths are
    concatenated, and their masks (if any) pad with 0 = ignored. ``negative_text`` is present only
    when the backbone applies true classifier-free guidance. ``source_latents`` are the packed
    source-image latents ``[B, N_src, D]``. ``height, width`` is the working resolution of the
    target; ``guidance`` the guidance scale this condition was built for.
    """

    text: dict[str, torch.Tensor]
    source_latents: torch.Tensor
    height: int
    width: int
    guidance: float
    negative_text: dict[str, torch.Tensor] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return self.source_latents.shape[0]

    def _map(self, fn) -> EditCondition:
        neg = None if self.negative_text is None else {k: fn(v) for k, v in self.negative_text.items()}
        return replace(
            self,
            text={k: fn(v) for k, v in self.text.items()},
            negative_text=neg,
            source_latents=fn(self.source_latents),
        )

    def repeat_interleave(self, repeats: int) -> EditCondition:
        """Each sample repeated ``repeats`` times in a row (a GRPO group per prompt)."""
        return self._map(lambda t: t.repeat_interleave(repeats, dim=0))

    def select(self, index: torch.Tensor | Sequence[int] | slice) -> EditCondition:
        """The samples at ``index`` (a slice, a list of ints or a 1-D index tensor)."""
        if not isinstance(index, slice):
            index = torch.as_tensor(index, dtype=torch.long)
        return self._map(lambda t: t[index.to(t.device)] if isinstance(index, torch.Tensor) else t[index])

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> EditCondition:
        """Move tensors; ``dtype`` applies to floating-point tensors only (masks keep theirs)."""
        return self._map(lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None))

    @staticmethod
    def cat(conditions: Sequence[EditCondition]) -> EditCondition:
        """Concatenate along the batch; all parts must share resolution, guidance and keys."""
        if not conditions:
            raise BackboneError("cannot concatenate an empty list of conditions")
        first = conditions[0]
        for c in conditions[1:]:
            if (c.height, c.width, c.guidance) != (first.height, first.width, first.guidance):
                raise BackboneError(
                    "conditions differ in resolution or guidance: "
                    f"{(first.height, first.width, first.guidance)} vs {(c.height, c.width, c.guidance)}"
                )
            if c.text.keys() != first.text.keys() or (c.negative_text is None) != (first.negative_text is None):
                raise BackboneError("conditions come from different backbones or guidance settings")
        text = {k: _cat_padded([c.text[k] for c in conditions]) for k in first.text}
        neg = None
        if first.negative_text is not None:
            neg = {k: _cat_padded([c.negative_text[k] for c in conditions]) for k in first.negative_text}
        return replace(
            first, text=text, negative_text=neg, source_latents=torch.cat([c.source_latents for c in conditions], dim=0)
        )


ImageInput = torch.Tensor | Image.Image | Sequence[Image.Image] | Sequence[torch.Tensor]


def as_pil_list(images: ImageInput) -> list[Image.Image]:
    """PIL image(s) or float tensor(s) in [0, 1] (``[3, H, W]`` or ``[B, 3, H, W]``) -> PIL list.

    Tensors are quantised to 8 bits, which is exact for images read from 8-bit files; the stock
    pipelines resize PIL images with Lanczos, and going through PIL keeps our resizing identical.
    """
    if isinstance(images, Image.Image):
        return [images.convert("RGB")]
    if isinstance(images, torch.Tensor):
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[1] != 3:
            raise BackboneError(f"expected images [B, 3, H, W] in [0, 1], got shape {tuple(images.shape)}")
        return [tensor_to_pil(im) for im in images]
    out = []
    for im in images:
        out.extend(as_pil_list(im))
    return out
