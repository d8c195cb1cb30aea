"""Edit-mask annotation: pure functions from an image pair or from boxes to an edit mask.

Conventions as in :mod:`cocoedit.core.masks`: masks are float ``[B, 1, H, W]`` with 1 = edit;
boxes in pixels are int ``(y0, x0, y1, x1)`` with exclusive ends. The VLM's boxes arrive as
``(x0, y0, x1, y1)`` (the order every grounding model uses) on a coordinate scale that
:func:`boxes_from_reply` converts.

Two annotation backends (selected per build run, see :mod:`cocoedit.curation.build`):

* **difference** (:func:`difference_mask`): the pixels where source and target differ, cleaned by
  opening/closing and a minimum component size (:func:`cocoedit.core.masks.mask_from_difference`),
  optionally each component replaced by its bounding box;
* **grounding**: a VLM names the edit target's boxes (:func:`parse_box_reply`), which become a mask
  by box fill (:func:`boxes_to_mask`) or by a segmentation model (:mod:`cocoedit.curation.segment`).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from cocoedit.core.masks import boxes_to_mask, mask_from_difference
from cocoedit.judge.parsing import ReplyParseError, json_object

#: Scales of VLM box coordinates: 0-1000 (Qwen2-VL, InternVL and most grounding prompts) or 0-1.
#: Absolute pixels are not offered: the server resizes images on its own (Qwen's smart_resize),
#: so the pixel grid the model answers in is unknown to the client.
BoxCoordinates = Literal["norm1000", "norm1"]
COORDINATE_SCALE = {"norm1000": 1000.0, "norm1": 1.0}


def component_boxes(mask: torch.Tensor) -> list[torch.Tensor]:
    """Per mask of a ``[B, 1, H, W]`` batch, the int64 ``[N, 4]`` boxes ``(y0, x0, y1, x1)`` (ends
    exclusive) of its 8-connected edit components, in scipy's label order (top to bottom)."""
    from scipy import ndimage

    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must have shape [B, 1, H, W], got {tuple(mask.shape)}")
    out = []
    for m in mask[:, 0].detach().cpu().numpy() > 0.5:
        labels, _ = ndimage.label(m, structure=np.ones((3, 3), dtype=bool))
        boxes = [(s[0].start, s[1].start, s[0].stop, s[1].stop) for s in ndimage.find_objects(labels) if s]
        out.append(torch.tensor(boxes, dtype=torch.int64).reshape(-1, 4))
    return out


def expand_boxes(boxes: torch.Tensor, fraction: float, size: tuple[int, int]) -> torch.Tensor:
    """Grow ``[N, 4]`` boxes ``(y0, x0, y1, x1)`` by ``fraction`` of their own height/width on each
    side (rounded up), clipped to the image ``size = (h, w)``. ``fraction=0.1`` on a 20-pixel-wide
    box adds 2 pixels left and right."""
    if fraction < 0:
        raise ValueError(f"fraction must be >= 0, got {fraction}")
    if boxes.numel() == 0 or fraction == 0:
        return boxes.clone()
    h, w = size
    dy = torch.ceil((boxes[:, 2] - boxes[:, 0]).double() * fraction).long()
    dx = torch.ceil((boxes[:, 3] - boxes[:, 1]).double() * fraction).long()
    return torch.stack(
        [
            (boxes[:, 0] - dy).clamp(0, h),
            (boxes[:, 1] - dx).clamp(0, w),
            (boxes[:, 2] + dy).clamp(0, h),
            (boxes[:, 3] + dx).clamp(0, w),
        ],
        dim=1,
    )


def union_of_boxes(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One ``[1, 1, h, w]`` edit mask that is 1 inside any of the ``[N, 4]`` boxes (0 boxes: empty)."""
    if boxes.numel() == 0:
        return torch.zeros(1, 1, *size)
    return boxes_to_mask(boxes, size).amax(dim=0, keepdim=True)


def fill_component_boxes(mask: torch.Tensor, expand: float = 0.0) -> torch.Tensor:
    """Replace every edit component of ``[B, 1, H, W]`` masks by its bounding box (grown by
    ``expand``, see :func:`expand_boxes`)."""
    size = tuple(mask.shape[-2:])
    filled = [union_of_boxes(expand_boxes(b, expand, size), size) for b in component_boxes(mask)]
    return torch.cat(filled).to(mask.dtype)


def align_to(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``[B, C, H, W]`` to ``size`` (bilinear, antialiased) so a target rendered at another
    resolution lines up with its source; a no-op when the size already matches."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image.float(), size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def difference_mask(
    source: torch.Tensor,
    target: torch.Tensor,
    threshold: float = 0.08,
    open_radius: int = 1,
    close_radius: int = 2,
    min_component_pixels: int = 16,
    fill_boxes: bool = False,
) -> torch.Tensor:
    """Edit mask ``[B, 1, H, W]`` of an aligned pair ``[B, 3, H, W]`` in [0, 1] (the target is
    resized to the source first if it differs): threshold on the largest per-channel difference,
    opening, closing, minimum component size; with ``fill_boxes`` each component becomes its box."""
    target = align_to(target, tuple(source.shape[-2:]))
    mask = mask_from_difference(source, target, threshold, open_radius, close_radius, min_component_pixels)
    return fill_component_boxes(mask) if fill_boxes else mask


# ---- VLM boxes ---------------------------------------------------------------------------------


def parse_box_reply(text: str, max_boxes: int, coordinates: BoxCoordinates) -> list[tuple[float, float, float, float]]:
    """The boxes of a grounding reply ``{"boxes": [[x0, y0, x1, y1], ...]}``, strictly.

    Each box is 4 finite numbers with ``x0 < x1`` and ``y0 < y1`` inside the coordinate range:
    ``[0, 1000]`` for ``norm1000``, ``[0, 1]`` for ``norm1``. Nothing is clamped.
    An empty list is a valid answer ("the target is not visible"). Returns the boxes as given.
    """
    obj = json_object(text)
    if set(obj) != {"boxes"}:
        raise ReplyParseError(f"the reply's JSON must have exactly the key 'boxes', got {sorted(obj)}")
    boxes = obj["boxes"]
    if not isinstance(boxes, list):
        raise ReplyParseError(f"'boxes' is {type(boxes).__name__}, expected a list of [x0, y0, x1, y1]")
    if len(boxes) > max_boxes:
        raise ReplyParseError(f"{len(boxes)} boxes, more than the {max_boxes} allowed")
    hi_x = hi_y = COORDINATE_SCALE[coordinates]
    out = []
    for i, box in enumerate(boxes):
        if not isinstance(box, list) or len(box) != 4:
            raise ReplyParseError(f"box {i} is {box!r}, expected [x0, y0, x1, y1]")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in box):
            raise ReplyParseError(f"box {i} {box!r} holds a non-number")
        x0, y0, x1, y1 = (float(v) for v in box)
        if not (0 <= x0 < x1 <= hi_x and 0 <= y0 < y1 <= hi_y):
            raise ReplyParseError(f"box {i} {box!r} is not 0 <= x0 < x1 <= {hi_x}, 0 <= y0 < y1 <= {hi_y}")
        out.append((x0, y0, x1, y1))
    return out


def boxes_from_reply(
    boxes: list[tuple[float, float, float, float]], coordinates: BoxCoordinates, image_size: tuple[int, int]
) -> torch.Tensor:
    """Pixel boxes ``[N, 4]`` ``(y0, x0, y1, x1)`` on the image ``image_size = (h, w)`` from parsed
    reply boxes: the covering pixel range (floor of starts, ceil of ends), so a box never loses a
    partly covered pixel. ``[250, 0, 500, 1000]`` (norm1000) on a 100x200 image -> ``(0, 50, 100, 100)``."""
    h, w = image_size
    scale_x = scale_y = COORDINATE_SCALE[coordinates]
    rows = []
    for x0, y0, x1, y1 in boxes:
        rows.append(
            [
                math.floor(y0 / scale_y * h),
                math.floor(x0 / scale_x * w),
                min(h, math.ceil(y1 / scale_y * h)),
                min(w, math.ceil(x1 / scale_x * w)),
            ]
        )
    return torch.tensor(rows, dtype=torch.int64).reshape(-1, 4)
