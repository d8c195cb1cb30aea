"""Images for raters that tell nothing but their pixels.

Every image a rater's browser receives is decoded and written again as a plain PNG (RGB, 8 bit,
only the IHDR, IDAT and IEND chunks; no text, colour profile, EXIF or resolution), at the source's
size (a result of another size is resized to it, bicubic, as the metrics do), so neither its file
name, format, metadata, size nor modification time reaches the rater. The bytes are prepared when a
task is handed out and kept for a while (:class:`BlindImages`), so serving them takes the same time
whichever folder they come from.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cocoedit.core.images import ImageFileError, open_rgb_image
from cocoedit.core.paths import is_really_inside

#: PNG chunks a neutral image holds, in order of first appearance.
NEUTRAL_CHUNKS = (b"IHDR", b"IDAT", b"IEND")


@dataclass(frozen=True)
class Served:
    """A prepared image: PNG bytes, or the HTTP status and message saying why there are none."""

    png: bytes | None
    status: int = 200
    error: str = ""


def neutral_png(image: Image.Image, size: tuple[int, int] | None = None) -> bytes:
    """``image`` as PNG bytes with nothing but its RGB pixels, resized (bicubic) to ``size`` (w, h)."""
    rgb = image.convert("RGB")
    if size is not None and rgb.size != tuple(size):
        rgb = rgb.resize(tuple(size), Image.BICUBIC)
    plain = Image.fromarray(np.asarray(rgb, dtype=np.uint8))  # a new image: no info carried over
    buf = io.BytesIO()
    plain.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def prepare(path: Path, root: Path, what: str, size: tuple[int, int] | None) -> tuple[Served, tuple[int, int] | None]:
    """Read ``path`` (inside ``root``) into a :class:`Served` and the image's own size. ``what`` names
    the image in errors without naming its folder."""
    if not path.is_file():
        return Served(None, 404, f"{what}: image missing"), None
    if not is_really_inside(root, path):  # the read rule: never serve a file a link points out to
        return Served(None, 403, f"{what}: the image is a link out of its folder"), None
    try:
        image = open_rgb_image(path, root=root)
    except ImageFileError:
        return Served(None, 422, f"{what}: the image cannot be read"), None
    return Served(neutral_png(image, size)), image.size


class BlindImages:
    """The prepared images of recently handed-out tasks, ``(task id, which) -> Served``, oldest dropped first."""

    def __init__(self, capacity: int = 48):
        self.capacity = capacity
        self._items: OrderedDict[tuple[int, str], Served] = OrderedDict()

    def get(self, task_id: int, which: str) -> Served | None:
        served = self._items.get((task_id, which))
        if served is not None:
            self._items.move_to_end((task_id, which))
        return served

    def put(self, task_id: int, which: str, served: Served) -> None:
        self._items[(task_id, which)] = served
        self._items.move_to_end((task_id, which))
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
