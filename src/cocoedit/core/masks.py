"""Edit-mask tools: pure, batched torch functions.

Convention (everywhere in cocoedit unless a function's name says otherwise): a mask is a float
tensor of shape ``[B, 1, H, W]`` with **1 = edit region** and **0 = keep region**. Files on disk
may use the opposite polarity (the CoCoEdit-40K release and the mask-annotated GEdit/ImgEdit
benchmarks store white = keep); :func:`edit_mask_from_file_values` converts at the file boundary
and nothing else in the code base should flip polarity.

Morphology uses a square structuring element of side ``2 * radius + 1`` (the reference code's
max-pool erosion); image borders neither erode nor dilate (pixels outside the image are ignored).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

MaskPolarity = Literal["white_is_edit", "white_is_keep"]


def _check_mask(mask: torch.Tensor, name: str = "mask") -> None:
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"{name} must have shape [B, 1, H, W], got {tuple(mask.shape)}")


def binarize(mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Return a float {0, 1} mask: 1 where ``mask >= threshold``. Any shape."""
    return (mask >= threshold).to(mask.dtype if mask.is_floating_point() else torch.float32)


def edit_mask_from_file_values(values: torch.Tensor, polarity: MaskPolarity, threshold: float = 0.5) -> torch.Tensor:
    """Turn mask intensities read from a file (in [0, 1]) into a binary edit mask.

    ``polarity`` names what white means in that file: ``"white_is_keep"`` for the CoCoEdit-40K
    release and the mask-annotated benchmarks, ``"white_is_edit"`` for our own manifests.
    The result uses the internal convention (1 = edit region).
    """
    if polarity not in ("white_is_edit", "white_is_keep"):
        raise ValueError(f"polarity must be 'white_is_edit' or 'white_is_keep', got {polarity!r}")
    white = binarize(values.float(), threshold)
    return white if polarity == "white_is_edit" else 1.0 - white


def keep_from_edit(edit_mask: torch.Tensor) -> torch.Tensor:
    """Keep-region mask (1 = keep) from an edit mask (1 = edit)."""
    return 1.0 - edit_mask


def resize_mask(mask: torch.Tensor, size: tuple[int, int], threshold: float | None = 0.5) -> torch.Tensor:
    """Resize ``[B, 1, H, W]`` masks to ``size = (h, w)``.

    Rule: along an axis that shrinks, each output cell takes the **area average** of the input
    pixels it covers (the fraction of the cell that is edit region); where nothing shrinks the
    mask is resampled with **nearest** neighbour, which keeps it binary and adds no blur.
    With ``threshold`` (default 0.5) the result is binarised again: 0.5 gives a majority vote
    per cell, a tiny threshold such as 1e-6 marks a cell as edit if any pixel in it is edit
    (the conservative choice when the keep region must contain no edited pixel).
    ``threshold=None`` returns the raw coverage fractions.
    """
    _check_mask(mask)
    h, w = size
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {size}")
    src = mask.float()
    if (h, w) != tuple(src.shape[-2:]):
        if h <= src.shape[-2] and w <= src.shape[-1]:
            src = F.interpolate(src, size=(h, w), mode="area")
        elif h >= src.shape[-2] and w >= src.shape[-1]:
            src = F.interpolate(src, size=(h, w), mode="nearest-exact")
        else:  # shrinks on one axis, grows on the other: do the axes one after the other
            src = resize_mask(src, (min(h, src.shape[-2]), min(w, src.shape[-1])), threshold=None)
            src = F.interpolate(src, size=(h, w), mode="nearest-exact")
    return src if threshold is None else binarize(src, threshold)


def latent_grid_mask(mask: torch.Tensor, latent_size: tuple[int, int], threshold: float = 0.5) -> torch.Tensor:
    """Binary edit mask on a latent grid (e.g. ``H/8 x W/8``): area average, then threshold.

    Unlike the reference code (nearest sampling of the top-left pixel of each 8x8 block, on an
    un-binarised Lanczos-resized mask) every image pixel counts and the result is binary.
    """
    return resize_mask(binarize(mask), latent_size, threshold=threshold)


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary dilation of ``[B, 1, H, W]`` masks by a square of side ``2 * radius + 1``."""
    _check_mask(mask)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0:
        return mask.clone()
    # max_pool2d pads with -inf, so pixels outside the image never switch anything on.
    return F.max_pool2d(mask, kernel_size=2 * radius + 1, stride=1, padding=radius)


def erode(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary erosion of ``[B, 1, H, W]`` masks by a square of side ``2 * radius + 1``.

    The image border does not erode: a region touching the border keeps its border pixels.
    """
    _check_mask(mask)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0:
        return mask.clone()
    return -F.max_pool2d(-mask, kernel_size=2 * radius + 1, stride=1, padding=radius)


def boundary_ring(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Band of width ``2 * radius`` around the edit-region boundary: ``dilate - erode``.

    Pixels within ``radius`` of the boundary on either side are 1. Empty and full masks have
    no boundary and give an all-zero ring.
    """
    return dilate(mask, radius) - erode(mask, radius)


def bounding_boxes(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tight boxes around the edit region of each mask.

    Returns ``(boxes, nonempty)``: ``boxes`` is int64 ``[B, 4]`` as ``(y0, x0, y1, x1)`` with
    exclusive ends (``mask[b, 0, y0:y1, x0:x1]`` holds every edit pixel); ``nonempty`` is bool
    ``[B]``. Rows of empty masks are all zero and flagged ``False`` in ``nonempty``.
    """
    _check_mask(mask)
    on = mask[:, 0] > 0.5
    rows, cols = on.any(dim=2), on.any(dim=1)  # [B, H], [B, W]
    nonempty = rows.any(dim=1)
    h, w = on.shape[-2:]
    ar_h = torch.arange(h, device=mask.device)
    ar_w = torch.arange(w, device=mask.device)
    big = torch.iinfo(torch.int64).max
    y0 = torch.where(rows, ar_h, big).amin(dim=1)
    y1 = torch.where(rows, ar_h, -1).amax(dim=1) + 1
    x0 = torch.where(cols, ar_w, big).amin(dim=1)
    x1 = torch.where(cols, ar_w, -1).amax(dim=1) + 1
    boxes = torch.stack([y0, x0, y1, x1], dim=1)
    return torch.where(nonempty[:, None], boxes, torch.zeros_like(boxes)), nonempty


def boxes_to_mask(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Edit masks ``[B, 1, h, w]`` that are 1 inside ``(y0, x0, y1, x1)`` boxes (ends exclusive)."""
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape [B, 4], got {tuple(boxes.shape)}")
    h, w = size
    ys = torch.arange(h, device=boxes.device)[None, :, None]
    xs = torch.arange(w, device=boxes.device)[None, None, :]
    b = boxes[:, :, None, None]
    inside = (ys >= b[:, 0]) & (ys < b[:, 2]) & (xs >= b[:, 1]) & (xs < b[:, 3])
    return inside[:, None].float()


def remove_small_components(mask: torch.Tensor, min_pixels: int) -> torch.Tensor:
    """Drop 8-connected edit components with fewer than ``min_pixels`` pixels.

    Component labelling runs through ``scipy.ndimage.label`` on the CPU (no torch equivalent);
    the result comes back on the input's device and dtype.
    """
    _check_mask(mask)
    if min_pixels <= 1:
        return mask.clone()
    from scipy import ndimage

    out = np.zeros(mask.shape, dtype=np.float32)
    structure = np.ones((3, 3), dtype=bool)
    for i, m in enumerate(mask[:, 0].detach().cpu().numpy() > 0.5):
        labels, n = ndimage.label(m, structure=structure)
        if n == 0:
            continue
        sizes = np.bincount(labels.ravel())
        keep = sizes >= min_pixels
        keep[0] = False
        out[i, 0] = keep[labels]
    return torch.from_numpy(out).to(device=mask.device, dtype=mask.dtype)


def mask_from_difference(
    source: torch.Tensor,
    edited: torch.Tensor,
    threshold: float = 0.08,
    open_radius: int = 1,
    close_radius: int = 2,
    min_component_pixels: int = 16,
) -> torch.Tensor:
    """Edit mask from an aligned image pair: where the two differ.

    ``source`` and ``edited`` are ``[B, C, H, W]`` in [0, 1]. A pixel is changed when its largest
    per-channel absolute difference exceeds ``threshold``. Then an opening (erode, dilate by
    ``open_radius``) removes isolated speckle, a closing (dilate, erode by ``close_radius``)
    fills pinholes and joins fragments, and components smaller than ``min_component_pixels``
    are dropped. Returns ``[B, 1, H, W]`` with 1 = changed (edit region).
    """
    if source.shape != edited.shape or source.ndim != 4:
        raise ValueError(
            f"source and edited must be [B, C, H, W] of equal shape, got "
            f"{tuple(source.shape)} and {tuple(edited.shape)}"
        )
    diff = (source.float() - edited.float()).abs().amax(dim=1, keepdim=True)
    mask = (diff > threshold).float()
    mask = dilate(erode(mask, open_radius), open_radius)
    mask = erode(dilate(mask, close_radius), close_radius)
    return remove_small_components(mask, min_component_pixels)
