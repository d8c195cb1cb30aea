"""Image and mask files <-> tensors, with errors that name the file.

Images load as float ``[3, H, W]`` RGB in [0, 1]; masks as float ``[1, H, W]`` binary edit masks
(1 = edit) after converting the file's polarity (see :mod:`cocoedit.core.masks`).

Every image file is read by :func:`open_image`, one rule for all: a regular file (inside a given
root, links followed: :func:`cocoedit.core.paths.is_really_inside`), an image that decodes
completely, at most :func:`max_image_pixels` pixels (checked from the header before decoding, so a
decompression bomb costs no memory), turned upright by its EXIF orientation (as diffusers'
``load_image`` does: a phone photo stored sideways is read as it is shown, and so is its mask).
Any failure is an :class:`ImageFileError` naming the file and the reason.

Mask files are read as users have them: values 0/255 (or any grey, binarised at 0.5 where a binary
mask is needed), and also values 0/1 only (a mask saved straight from a 0/1 array), which are read
as 0/255.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from cocoedit.core.errors import CocoEditError
from cocoedit.core.masks import MaskPolarity, edit_mask_from_file_values
from cocoedit.core.paths import is_really_inside

#: Pixels an image file may have unless ``COCOEDIT_MAX_IMAGE_PIXELS`` says otherwise: 8192 x 8192,
#: four times a 4K x 4K image and far below a decompression bomb's billions.
DEFAULT_MAX_IMAGE_PIXELS = 8192 * 8192
MAX_IMAGE_PIXELS_ENV = "COCOEDIT_MAX_IMAGE_PIXELS"

#: Greyscale modes with more than 8 bits (PNG 16-bit greyscale opens as one of these).
_WIDE_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class ImageFileError(CocoEditError):
    """An image or mask file is missing, not a regular file, unreadable, truncated or too large."""


def max_image_pixels() -> int:
    """The pixel limit of :func:`open_image`: ``COCOEDIT_MAX_IMAGE_PIXELS`` when set, else
    :data:`DEFAULT_MAX_IMAGE_PIXELS`. Read at every call, so a test or a job can change it.
    Pillow refuses images above twice ``PIL.Image.MAX_IMAGE_PIXELS`` (about 179 megapixels) on its
    own; those are reported as over the limit too."""
    value = os.environ.get(MAX_IMAGE_PIXELS_ENV)
    if value is None:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise CocoEditError(f"{MAX_IMAGE_PIXELS_ENV}={value!r}: expected a positive whole number of pixels")
    return limit


def _eight_bit(im: Image.Image) -> Image.Image:
    """16-bit (and 32-bit integer) greyscale as 8-bit ``L``: value / 257, so 65535 -> 255.

    Pillow's own conversion clips these modes at 255, turning a 16-bit photo near-white.
    """
    if im.mode not in _WIDE_GREY_MODES:
        return im
    values = np.asarray(im, dtype=np.float64)
    return Image.fromarray(np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8), mode="L")


#: EXIF orientations that need a transpose (1 is upright; 2-8 mirror and/or rotate).
_EXIF_ORIENTATION = 0x0112


def _upright(im: Image.Image) -> Image.Image:
    """``im`` as it is shown: its EXIF orientation applied. Unreadable EXIF data is ignored (the
    pixels are still the image)."""
    try:
        orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block is not a broken image
        return im
    if orientation not in range(2, 9):
        return im
    return ImageOps.exif_transpose(im)


def open_image(path: str | Path, root: str | Path | None = None) -> Image.Image:
    """Open and fully decode an image file under the one reading rule (module docstring); with
    ``root``, its real path (links followed) must also be inside ``root``'s.

    The image comes back upright (EXIF orientation applied). 16-bit greyscale comes back as 8-bit
    ``L`` (value / 257); every other mode as stored (``P``, ``RGBA``, ``LA``, ...): :func:`to_rgb`
    makes RGB of any of them.
    """
    return _eight_bit(_open_upright(path, root))


def _open_upright(path: str | Path, root: str | Path | None = None) -> Image.Image:
    """:func:`open_image` without the 16-bit to 8-bit step."""
    path = Path(path)
    if root is not None and not is_really_inside(root, path):
        raise ImageFileError(f"{path}: its real path {os.path.realpath(path)} is outside {root} (a link out of it)")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageFileError(f"{path}: file not found") from None
    except OSError as e:
        raise ImageFileError(f"{path}: cannot be read ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ImageFileError(f"{path}: not a regular file")
    limit = max_image_pixels()
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own threshold; our limit below decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                pixels = im.width * im.height
                if pixels > limit:
                    raise ImageFileError(_too_large(path, im.width, im.height, limit))
                im.load()  # decodes everything: truncated files fail here, not later
                return _upright(im.copy())
    except Image.DecompressionBombError as e:
        raise ImageFileError(
            f"{path}: image too large to decode ({e}); limit {limit} pixels ({MAX_IMAGE_PIXELS_ENV})"
        ) from None
    except UnidentifiedImageError as e:
        raise ImageFileError(f"{path}: not a readable image ({e})") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageFileError(f"{path}: unreadable or truncated image ({e})") from e


def _too_large(path: Path, width: int, height: int, limit: int) -> str:
    return (
        f"{path}: image is {width}x{height} = {width * height} pixels, over the limit of {limit} "
        f"(set {MAX_IMAGE_PIXELS_ENV} to raise it)"
    )


def to_rgb(im: Image.Image) -> Image.Image:
    """Any image as 8-bit RGB: palette colours looked up, greyscale replicated, 16-bit greyscale
    scaled to 8 bits, and **alpha dropped** (the colour stored under a transparent pixel is kept,
    as diffusers' ``load_image`` and the reference pipelines do; compositing onto a background
    would change pixels the edit mask says to keep)."""
    return _eight_bit(im).convert("RGB")


def open_rgb_image(path: str | Path, root: str | Path | None = None) -> Image.Image:
    """:func:`open_image` then :func:`to_rgb`."""
    return to_rgb(open_image(path, root))


def image_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` of an image file, decoding it fully so truncation is caught."""
    im = open_image(Path(path))
    return im.height, im.width


def pil_to_tensor(im: Image.Image) -> torch.Tensor:
    """PIL image -> float RGB ``[3, H, W]`` in [0, 1], converted by :func:`to_rgb`."""
    arr = np.asarray(to_rgb(im), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """Float ``[3, H, W]`` (or ``[1, H, W]``) in [0, 1] -> 8-bit PIL image (rounded, clipped)."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected [3, H, W] or [1, H, W], got {tuple(image.shape)}")
    arr = (image.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8).cpu()
    arr = arr.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)


def load_image(path: str | Path, root: str | Path | None = None) -> torch.Tensor:
    """Read an image file as float RGB ``[3, H, W]`` in [0, 1] (``root`` as in :func:`open_image`)."""
    return pil_to_tensor(open_image(Path(path), root))


def save_pil_atomic(im: Image.Image, path: str | Path) -> None:
    """Write ``im`` (format from the suffix) to a temporary file beside ``path``, then rename it
    over ``path``. A crash or a full disk never leaves half a file under the final name, and a
    symbolic link at ``path`` is replaced by the file, never written through."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.init()
    image_format = Image.registered_extensions().get(path.suffix.lower())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        im.save(tmp, format=image_format)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_image(image: torch.Tensor, path: str | Path) -> None:
    """Write float ``[3, H, W]`` in [0, 1] as an 8-bit image (format from the suffix), atomically
    (:func:`save_pil_atomic`)."""
    save_pil_atomic(tensor_to_pil(image), path)


def _only_zero_and_one(values: np.ndarray) -> bool:
    """Whether every value is 0 or 1 and some are 1: a mask saved from a 0/1 array."""
    return values.size > 0 and values.max() == 1 and not np.any((values != 0) & (values != 1))


def load_mask_values(path: str | Path, root: str | Path | None = None) -> torch.Tensor:
    """Raw mask intensities ``[1, H, W]`` in [0, 1]: the maximum over RGB channels.

    The maximum (not channel 0) so that a mask drawn in any colour counts; alpha is ignored
    (:func:`to_rgb`), 16-bit files are read at 8 bits. A file whose values are all 0 or 1 (8- or
    16-bit) is a 0/1 mask and reads as 0 and 1.0. ``root`` as in :func:`open_image`.
    """
    im = _open_upright(Path(path), root)
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float32)
    elif im.mode in _WIDE_GREY_MODES:
        raw = np.asarray(im, dtype=np.float32)
        arr = raw if _only_zero_and_one(raw) else np.asarray(_eight_bit(im), dtype=np.float32) / 255.0
    else:
        arr = np.asarray(to_rgb(im), dtype=np.float32).max(axis=2)
        arr = arr if _only_zero_and_one(arr) else arr / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr))[None]


def load_edit_mask(
    path: str | Path, polarity: MaskPolarity, threshold: float = 0.5, root: str | Path | None = None
) -> torch.Tensor:
    """Read a mask file as a binary edit mask ``[1, H, W]`` (1 = edit), converting polarity
    (``root`` as in :func:`open_image`)."""
    return edit_mask_from_file_values(load_mask_values(path, root), polarity, threshold)


def save_edit_mask(edit_mask: torch.Tensor, path: str | Path, polarity: MaskPolarity) -> None:
    """Write a binary edit mask ``[1, H, W]`` as an 8-bit greyscale PNG in the given polarity."""
    white = edit_mask if polarity == "white_is_edit" else 1.0 - edit_mask
    save_pil_atomic(tensor_to_pil((white >= 0.5).float()), path)
