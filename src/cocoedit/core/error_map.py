"""Keep-region error heat maps: where, and how much, a result departs from its source.

The map is the per-pixel absolute difference averaged over channels, on the keep region only;
the edit region is blank (it is supposed to change). Colours use one fixed scale for every map,
so that maps of different results folders compare at a glance: 0 is black and
:data:`ERROR_MAP_MAX` (and anything above) is the brightest colour of the ``inferno`` map.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

#: Absolute error (data range 1) drawn at full brightness: 0.1 is about 26 grey levels of 255.
ERROR_MAP_MAX = 0.1
#: The colour of the edit region in a heat map (not scored).
EDIT_REGION_GREY = (150, 150, 160)


def keep_error_map(result: torch.Tensor, source: torch.Tensor, edit_mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over channels per pixel, ``[H, W]``; NaN on the edit region.

    ``result`` and ``source`` are ``[3, H, W]`` in [0, 1]; ``edit_mask`` is ``[1, H, W]`` or
    ``[H, W]`` with 1 = edit (binarised at 0.5).
    """
    if result.shape != source.shape or result.ndim != 3:
        raise ValueError(
            f"result and source must be [C, H, W] of one shape, got {tuple(result.shape)} and {tuple(source.shape)}"
        )
    mask = edit_mask.reshape(edit_mask.shape[-2:]) if edit_mask.ndim == 3 else edit_mask
    if tuple(mask.shape) != tuple(result.shape[-2:]):
        raise ValueError(f"edit mask must be {tuple(result.shape[-2:])}, got {tuple(mask.shape)}")
    error = (result.float() - source.float()).abs().mean(dim=0)
    return torch.where(mask >= 0.5, torch.full_like(error, float("nan")), error)


def pooled_error_map(error: torch.Tensor, max_side: int) -> torch.Tensor:
    """An error map ``[H, W]`` shrunk so that its longest side is at most ``max_side``, each new pixel
    the **largest** error of its block (an isolated bad pixel stays visible); a block entirely in
    the edit region stays NaN. Maps that already fit come back unchanged."""
    height, width = error.shape
    if max(height, width) <= max_side:
        return error
    factor = max_side / max(height, width)
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    blank = torch.isnan(error)
    filled = torch.where(blank, torch.full_like(error, -1.0), error.float())
    pooled = torch.nn.functional.adaptive_max_pool2d(filled[None, None], size)[0, 0]
    return torch.where(pooled < 0, torch.full_like(pooled, float("nan")), pooled)


def heatmap_image(error: torch.Tensor, vmax: float = ERROR_MAP_MAX) -> Image.Image:
    """An RGB picture of an error map ``[H, W]`` on the fixed scale; NaN pixels are grey."""
    from matplotlib import colormaps

    values = error.detach().cpu().numpy().astype(np.float64)
    blank = np.isnan(values)
    scaled = np.clip(np.nan_to_num(values, nan=0.0) / vmax, 0.0, 1.0)
    rgb = (colormaps["inferno"](scaled)[..., :3] * 255).round().astype(np.uint8)
    rgb[blank] = EDIT_REGION_GREY
    return Image.fromarray(rgb)


def colour_scale_image(width: int = 220, height: int = 14, vmax: float = ERROR_MAP_MAX) -> Image.Image:
    """The heat maps' colour bar, 0 on the left to ``vmax`` on the right."""
    ramp = torch.linspace(0.0, vmax, width).expand(height, width)
    return heatmap_image(ramp, vmax)
