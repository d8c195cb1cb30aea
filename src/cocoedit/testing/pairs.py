"""Pair datasets made of real photos with known edits, for the import and curation tests.

Each pair is a 100x125 crop of a scikit-image photo (source) and the same crop with one
rectangle's colours rotated by half the range (target), so the edit region is known exactly and
every pixel in it differs by 0.5 in each channel. 100 and 125 divide 1000, so a box given on the
0-1000 grid maps onto whole pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

H, W = 100, 125
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")
EDIT_TYPES = ("replace", "color", "add", "remove")


def _photo(name: str) -> np.ndarray:
    from skimage import data

    im = Image.fromarray(getattr(data, name)()).convert("RGB")
    im = im.resize((W * 2, H * 2), Image.LANCZOS)
    return np.asarray(im)[:H, :W]


def known_edit(i: int) -> tuple[int, int, int, int]:
    """The edited rectangle ``(y0, x0, y1, x1)`` (ends exclusive) of pair ``i``."""
    y0, x0 = 10 + (i * 7) % 40, 15 + (i * 11) % 60
    return y0, x0, y0 + 30 + i % 3 * 5, x0 + 40


def make_pairs(root: Path, n: int) -> list[dict]:
    """Write ``n`` pairs under ``root/raw/`` and return their table rows (paths relative to root)."""
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        src = _photo(PHOTOS[i % len(PHOTOS)])
        if i >= len(PHOTOS):  # more pairs than photos: flip so that sources differ
            src = np.ascontiguousarray(src[:, ::-1])
        tgt = src.copy()
        y0, x0, y1, x1 = known_edit(i)
        tgt[y0:y1, x0:x1] = (tgt[y0:y1, x0:x1].astype(np.int32) + 128) % 256
        Image.fromarray(src).save(raw / f"src_{i}.png")
        Image.fromarray(tgt).save(raw / f"tgt_{i}.png")
        rows.append(
            {
                "uid": f"pair-{i:03d}",
                "src": f"raw/src_{i}.png",
                "tgt": f"raw/tgt_{i}.png",
                "prompt": f"change the object number {i} to something else",
                "kind": EDIT_TYPES[i % 4],
                "score": 0.5 + i / 100,
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
