"""Image and mask files <-> tensors, with errors that name the file.

Images load as float ``[3, H, W]`` RGB in [0, 1]; masks as float ``[1, H, W]`` binary edit masks
(1 = edit) after converting the file's polarity (see :mod:`cocoedit.core.masks`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from cocoedit.core.errors import CocoEditError
from cocoedit.core.masks import MaskPolarity, edit_mask_from_file_values


class ImageFileError(CocoEditError):
    """An image or mask file is missing, unreadable or truncated."""


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file (truncated files fail here, with the path named)."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: file not found")
    try:
        with Image.open(path) as im:
            im.load()  # decodes everything: truncated files fail here, not later
            return im.copy()
    except UnidentifiedImageError as e:
        raise ImageFileError(f"{path}: not a readable image ({e})") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageFileError(f"{path}: unreadable or truncated image ({e})") from e


def image_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` of an image file, decoding it fully so truncation is caught."""
    im = open_image(Path(path))
    return im.height, im.width


def pil_to_tensor(im: Image.Image) -> torch.Tensor:
    """PIL image -> float RGB ``[3, H, W]`` in [0, 1] (alpha is dropped, greyscale replicated)."""
    arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """Float ``[3, H, W]`` (or ``[1, H, W]``) in [0, 1] -> 8-bit PIL image (rounded, clipped)."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected [3, H, W] or [1, H, W], got {tuple(image.shape)}")
    arr = (image.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8).cpu()
    arr = arr.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)


def load_image(path: str | Path) -> torch.Tensor:
    """Read an image file as float RGB ``[3, H, W]`` in [0, 1]."""
    return pil_to_tensor(open_image(Path(path)))


def save_image(image: torch.Tensor, path: str | Path) -> None:
    """Write float ``[3, H, W]`` in [0, 1] as an 8-bit image (format from the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensor_to_pil(image).save(path)


def load_mask_values(path: str | Path) -> torch.Tensor:
    """Raw mask intensities ``[1, H, W]`` in [0, 1]: the maximum over RGB channels.

    The maximum (not channel 0) so that a mask drawn in any colour counts.
    """
    im = open_image(Path(path))
    if im.mode.startswith("I"):  # 16/32-bit greyscale
        arr = np.asarray(im, dtype=np.float32) / 65535.0
    elif im.mode == "F":
        arr = np.asarray(im, dtype=np.float32)
    else:
        arr = np.asarray(im.convert("RGB"), dtype=np.float32).max(axis=2) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr))[None]


def load_edit_mask(path: str | Path, polarity: MaskPolarity, threshold: float = 0.5) -> torch.Tensor:
    """Read a mask file as a binary edit mask ``[1, H, W]`` (1 = edit), converting polarity."""
    return edit_mask_from_file_values(load_mask_values(path), polarity, threshold)


def save_edit_mask(edit_mask: torch.Tensor, path: str | Path, polarity: MaskPolarity) -> None:
    """Write a binary edit mask ``[1, H, W]`` as an 8-bit greyscale PNG in the given polarity."""
    white = edit_mask if polarity == "white_is_edit" else 1.0 - edit_mask
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensor_to_pil((white >= 0.5).float()).save(path)
