"""Training rows at the working resolution: source image and edit mask, cropped and resized alike.

The source is centre-cropped to the working aspect ratio and resized with Lanczos (as the
reference and the stock pipelines resize images); the mask gets the same crop and is resized with
:func:`cocoedit.core.masks.resize_mask` (area when shrinking, nearest when growing, binarised at
0.5: the reference resizes masks with Lanczos and never binarises them, method.md §i.13).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from cocoedit.core.images import load_edit_mask, open_rgb_image, pil_to_tensor
from cocoedit.core.masks import resize_mask
from cocoedit.data.manifest import EditSample, ManifestError


@dataclass(frozen=True)
class TrainingRow:
    """One dataset row prepared for training: ``source [3, H, W]`` in [0, 1], ``edit_mask
    [1, H, W]`` (1 = edit) and, when the row has one, ``target [3, H, W]``, at the working
    resolution."""

    sample: EditSample
    source: torch.Tensor
    edit_mask: torch.Tensor
    target: torch.Tensor | None = None


def _center_crop_box(width: int, height: int, aspect: float) -> tuple[int, int, int, int]:
    """Largest centred box of ``aspect = w / h`` inside a ``width x height`` image."""
    if width / height > aspect:
        w = round(height * aspect)
        x0 = (width - w) // 2
        return x0, 0, x0 + w, height
    h = round(width / aspect)
    y0 = (height - h) // 2
    return 0, y0, width, y0 + h


def prepare_row(sample: EditSample, height: int, width: int) -> TrainingRow:
    """Load a sample's source and mask, crop both to ``width / height`` and resize."""
    image = open_rgb_image(sample.source)
    mask = load_edit_mask(sample.mask, sample.mask_polarity)
    if tuple(mask.shape[-2:]) != (image.height, image.width):
        raise ManifestError(
            f"sample {sample.id!r}: mask {sample.mask} is {mask.shape[-1]}x{mask.shape[-2]} but the "
            f"source is {image.width}x{image.height} (run `cocoedit data validate`)"
        )
    box = _center_crop_box(image.width, image.height, width / height)

    def fit(im: Image.Image) -> torch.Tensor:
        return pil_to_tensor(im.crop(box).resize((width, height), Image.LANCZOS))

    x0, y0, x1, y1 = box
    edit = resize_mask(mask[None, :, y0:y1, x0:x1], (height, width))[0]
    target = None
    if sample.target is not None:
        target_image = open_rgb_image(sample.target)
        if target_image.size != image.size:
            raise ManifestError(
                f"sample {sample.id!r}: target {sample.target} is {target_image.width}x"
                f"{target_image.height} but the source is {image.width}x{image.height}"
            )
        target = fit(target_image)
    return TrainingRow(sample=sample, source=fit(image), edit_mask=edit, target=target)
