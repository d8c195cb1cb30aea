"""Images as the judge receives them: 8-bit RGB with a content hash, encoded as data URLs."""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from PIL import Image

from cocoedit.core.images import tensor_to_pil


@dataclass
class JudgeImage:
    """An RGB image for the judge, with a content hash (of its 8-bit pixels and size).

    The hash does not depend on the file format it came from, so the same pixels hit the same
    cache entry whether they were a PNG on disk or a tensor in the trainer.
    """

    pil: Image.Image
    sha256: str = field(init=False)
    _urls: dict[tuple, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.pil = self.pil.convert("RGB")
        h = hashlib.sha256(f"{self.pil.width}x{self.pil.height}:".encode())
        h.update(np.asarray(self.pil, dtype=np.uint8).tobytes())
        self.sha256 = h.hexdigest()

    @classmethod
    def from_tensor(cls, image: torch.Tensor) -> JudgeImage:
        """From float ``[3, H, W]`` in [0, 1] (rounded to 8 bits)."""
        return cls(tensor_to_pil(image))

    def resized(self, max_side: int | None) -> Image.Image:
        """The image with its longest side capped at ``max_side`` (Lanczos, aspect kept)."""
        w, h = self.pil.size
        if max_side is None or max(w, h) <= max_side:
            return self.pil
        scale = max_side / max(w, h)
        return self.pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)

    def has_data_url(self, fmt: Literal["png", "jpeg"], quality: int, max_side: int | None) -> bool:
        """Whether :meth:`data_url` with these settings is already encoded."""
        return (fmt, quality, max_side) in self._urls

    def data_url(self, fmt: Literal["png", "jpeg"], quality: int, max_side: int | None) -> str:
        """``data:image/...;base64,...`` for the given encoding (memoised per setting)."""
        key = (fmt, quality, max_side)
        if key not in self._urls:
            buf = io.BytesIO()
            im = self.resized(max_side)
            if fmt == "png":
                im.save(buf, format="PNG", compress_level=1)  # lossless anyway; level 1 is the fastest
            else:
                im.save(buf, format="JPEG", quality=quality)
            self._urls[key] = f"data:image/{fmt};base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        return self._urls[key]
