"""What reports are made of: tables, pictures (plots and image thumbnails) and image helpers.

Pages are Jinja2 templates (:mod:`cocoedit.core.pages`); this module turns numbers and images into
the data those templates lay out, never into HTML:

* :func:`table` -> :class:`Table`: headers and rows of :class:`Cell` (text formatted by kind,
  :mod:`cocoedit.core.formatting`; a cell may carry a CSS class).
* :func:`plot` -> :class:`Picture`: a matplotlib figure as an inline PNG.
* :func:`thumbnail` -> :class:`Picture`: an image as an inline lossless PNG, shown at a given
  scale and upscaled by nearest neighbour (``image-rendering: pixelated``), so every pixel is seen
  as it is. :func:`display_scale` gives the one scale for a source and its results.
* :func:`mask_overlay` (the edit region tinted red) and :func:`pyplot` (matplotlib, headless).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from cocoedit.core.formatting import format_number, kind_for

#: Longest side of an inline thumbnail's stored pixels (larger images are downscaled, LANCZOS).
THUMBNAIL_SIDE = 400
#: The box (CSS px) a source is fitted into on report pages; its results get the same scale.
TILE_BOX = (180, 135)


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and an optional CSS class (``bad``, ``reasoning``)."""

    text: str
    cls: str = ""


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class Picture:
    """An image for a page: ``src`` (a ``data:`` URL or a relative path) and how it is shown.

    ``width``/``height`` are the CSS size in px (None: the image's own size); ``pixelated`` asks the
    browser to upscale by nearest neighbour; ``own`` marks the folder a report section is about.
    """

    src: str
    alt: str = ""
    caption: str = ""
    width: int | None = None
    height: int | None = None
    pixelated: bool = False
    own: bool = False


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], kinds: Sequence[str] | None = None) -> Table:
    """A table; numbers formatted by kind (:mod:`cocoedit.core.formatting`).

    ``kinds`` gives each column's number kind; by default it is guessed from the column header. A
    value given as a :class:`Cell` is kept as it is (already text, possibly with a class).
    """
    kinds = list(kinds) if kinds is not None else [kind_for(c) for c in columns]
    body = []
    for row in rows:
        body.append(
            tuple(
                v if isinstance(v, Cell) else Cell(format_number(v, kind)) for v, kind in zip(row, kinds, strict=True)
            )
        )
    return Table(tuple(columns), tuple(body))


def png_data_url(image: Image.Image) -> str:
    """A PIL image as a lossless ``data:image/png`` URL (no metadata)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def plot(fig: Any, alt: str = "", natural: bool = False) -> Picture:
    """A matplotlib figure as an inline PNG picture; the figure is closed. ``natural``: shown at its own
    size in pixels, never shrunk to the page's width (for figures of images; the page scrolls)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    src = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    if not natural:
        return Picture(src, alt=alt)
    width, height = Image.open(buf).size
    return Picture(src, alt=alt, width=width, height=height, pixelated=True)


def display_scale(size: tuple[int, int], box: tuple[int, int] = TILE_BOX) -> float:
    """CSS px per image pixel that fits an image of ``size`` (width, height) into ``box``: a whole
    number when the image fits (every pixel a square of one size), else the shrinking factor (below 1;
    :func:`thumbnail` then stores the image at the size shown, so the browser drops no pixel)."""
    fit = min(box[0] / size[0], box[1] / size[1])
    return float(math.floor(fit)) if fit >= 1 else fit


def thumbnail(
    image: Image.Image,
    caption: str = "",
    max_side: int = THUMBNAIL_SIDE,
    scale: float | None = None,
    own: bool = False,
    alt: str = "",
    shown_size: tuple[int, int] | None = None,
) -> Picture:
    """An image as an inline lossless PNG, shown about ``scale`` CSS px per pixel of ``shown_size``
    (default: the image's own size; scale 1). Pixels beyond ``max_side`` are downscaled (LANCZOS) for
    storage. The browser never resamples by a fraction: a picture shown larger than stored is a whole
    multiple of it (rounded down, upscaled by nearest neighbour), one shown smaller is stored at the
    size shown (LANCZOS), one CSS px per stored pixel."""
    stored = image.convert("RGB")
    width, height = shown_size or stored.size
    stored.thumbnail((max_side, max_side), Image.LANCZOS)
    if scale is not None:
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    if width < stored.width or height < stored.height:
        stored = stored.resize((width, height), Image.LANCZOS)
    factor = max(1, min(width // stored.width, height // stored.height))
    width, height = stored.width * factor, stored.height * factor
    return Picture(png_data_url(stored), alt=alt, caption=caption, width=width, height=height, pixelated=True, own=own)


def mask_overlay(source: Image.Image, edit_mask: torch.Tensor) -> Image.Image:
    """The source with its edit region tinted red and the keep region left as is.

    ``edit_mask`` is a binary edit mask ``[1, H, W]`` or ``[H, W]`` (1 = edit), as the project's mask
    readers return it (:func:`cocoedit.core.images.load_edit_mask` converts a file's polarity and
    reads 0/1 files); one of another size is resampled to the source's by nearest neighbour."""
    src = np.asarray(source.convert("RGB"), dtype=np.float32)
    values = edit_mask.detach().float().reshape(edit_mask.shape[-2:]).cpu().numpy()
    if values.shape != src.shape[:2]:
        picture = Image.fromarray((values >= 0.5).astype(np.uint8) * 255)
        values = np.asarray(picture.resize(source.size, Image.NEAREST), dtype=np.float32) / 255
    edit = values >= 0.5
    tint = src * 0.45 + np.array([255.0, 40.0, 40.0]) * 0.55
    return Image.fromarray(np.where(edit[..., None], tint, src).astype(np.uint8))


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt
