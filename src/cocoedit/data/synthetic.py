"""A synthetic local-editing task with exact masks and exact targets, deterministic from a seed.

Each sample is a small RGB image: a smooth coloured texture (three random low-frequency sinusoids) with two to
four flat shapes (circle, square, triangle) in named colours. One instruction per sample, from
templates over five edit types:

* ``recolor``: "make the red circle blue" — the shape's pixels take the new colour;
* ``remove``: "remove the green square" — the shape's pixels show the background again;
* ``add``: "add a yellow triangle at the top left" — a new shape is drawn, centred in that cell of
  a 3x3 grid, where there was none (without the place the target would be a guess);
* ``replace``: "replace the blue circle with a purple square" — old shape removed, new one drawn
  at its centre;
* ``grow``: "make the orange triangle bigger" — the shape is redrawn 1.5x larger.

The edit mask is exactly the set of pixels that the edit changes, so the target differs from the
source only inside it and everywhere inside it (a grown shape's old area keeps its colour and is
keep region). Splits are drawn from
independent seeds; each is written as a standard manifest (masks white = edit) with the edit's
parameters in ``metadata["edit"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cocoedit.data.manifest import EditSample, save_generated_sample, write_manifest

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 210, 40),
    "purple": (140, 60, 190),
    "orange": (240, 140, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle")
EDIT_TYPES = ("recolor", "remove", "add", "replace", "grow")
SPLIT_SEED_OFFSETS = {"train": 0, "validation": 1_000_003, "test": 2_000_006}


@dataclass(frozen=True)
class Shape:
    kind: str
    color: str
    cy: float
    cx: float
    radius: float

    def mask(self, size: int) -> np.ndarray:
        """Bool ``[size, size]`` pixels covered by the shape."""
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        dy, dx = yy - self.cy, xx - self.cx
        if self.kind == "circle":
            return dy**2 + dx**2 <= self.radius**2
        if self.kind == "square":
            return (np.abs(dy) <= self.radius * 0.85) & (np.abs(dx) <= self.radius * 0.85)
        # Upward triangle inscribed in the circle of the radius.
        return (dy <= self.radius * 0.5) & (dy >= -self.radius) & (np.abs(dx) <= (dy + self.radius) * 0.58)


def _texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth coloured background, float ``[size, size, 3]`` in [0, 255]."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(70, 180, size=3)
    out = np.broadcast_to(base, (size, size, 3)).copy()
    for _ in range(3):
        fy, fx = rng.uniform(0.3, 1.5, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        amp = rng.uniform(10, 30, size=3)
        out += amp * np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)[..., None]
    return np.clip(out, 0, 255)


def _place(
    size: int, radius: float, taken: list[Shape], rng: np.random.Generator, kind: str, color: str
) -> Shape | None:
    for _ in range(50):
        cy, cx = rng.uniform(radius + 1, size - radius - 1, size=2)
        if all((cy - s.cy) ** 2 + (cx - s.cx) ** 2 > (radius + s.radius + 2) ** 2 for s in taken):
            return Shape(kind, color, float(cy), float(cx), radius)
    return None


PLACES = {
    (0, 0): "top left",
    (0, 1): "top",
    (0, 2): "top right",
    (1, 0): "left",
    (1, 1): "center",
    (1, 2): "right",
    (2, 0): "bottom left",
    (2, 1): "bottom",
    (2, 2): "bottom right",
}


def _place_in_cell(
    size: int, radius: float, taken: list[Shape], rng: np.random.Generator, kind: str, color: str
) -> tuple[Shape, str] | None:
    """A shape centred in a free cell of the 3x3 grid, and the cell's name."""
    for cell in rng.permutation(len(PLACES)):
        row, col = divmod(int(cell), 3)
        cy, cx = (row + 0.5) * size / 3, (col + 0.5) * size / 3
        if all((cy - s.cy) ** 2 + (cx - s.cx) ** 2 > (radius + s.radius + 2) ** 2 for s in taken):
            return Shape(kind, color, cy, cx, radius), PLACES[row, col]
    return None


def _render(background: np.ndarray, shapes: list[Shape]) -> np.ndarray:
    image = background.copy()
    size = image.shape[0]
    for s in shapes:
        image[s.mask(size)] = COLORS[s.color]
    return image


@dataclass(frozen=True)
class SyntheticSample:
    """Source and target uint8 ``[H, W, 3]``, edit mask bool ``[H, W]``, instruction, parameters."""

    source: np.ndarray
    target: np.ndarray
    edit_mask: np.ndarray
    instruction: str
    edit: dict


def make_sample(size: int, rng: np.random.Generator, edit_type: str | None = None) -> SyntheticSample:
    """One sample (see the module docstring). ``edit_type`` None draws one uniformly."""
    while True:
        edit_type = edit_type or str(rng.choice(EDIT_TYPES))
        background = _texture(size, rng)
        radius = size * rng.uniform(0.12, 0.18)
        shapes: list[Shape] = []
        colors = list(rng.permutation(list(COLORS)))
        for _ in range(int(rng.integers(2, 5))):
            s = _place(size, radius, shapes, rng, str(rng.choice(SHAPES)), colors.pop())
            if s is not None:
                shapes.append(s)
        unused = [c for c in COLORS if c not in {s.color for s in shapes}]
        target_shapes = list(shapes)
        if edit_type == "add":
            placed = _place_in_cell(size, radius, shapes, rng, str(rng.choice(SHAPES)), str(rng.choice(unused)))
            if placed is None:
                continue
            new, where = placed
            target_shapes.append(new)
            instruction = f"add a {new.color} {new.kind} at the {where}"
            edit = {"type": "add", "shape": new.kind, "color": new.color, "place": where}
        else:
            i = int(rng.integers(len(shapes)))
            old = shapes[i]
            if edit_type == "recolor":
                new = Shape(old.kind, str(rng.choice(unused)), old.cy, old.cx, old.radius)
                instruction = f"make the {old.color} {old.kind} {new.color}"
            elif edit_type == "remove":
                new = None
                instruction = f"remove the {old.color} {old.kind}"
            elif edit_type == "replace":
                kind = str(rng.choice([k for k in SHAPES if k != old.kind]))
                new = Shape(kind, str(rng.choice(unused)), old.cy, old.cx, old.radius)
                instruction = f"replace the {old.color} {old.kind} with a {new.color} {new.kind}"
            else:  # grow
                new = Shape(old.kind, old.color, old.cy, old.cx, old.radius * 1.5)
                instruction = f"make the {old.color} {old.kind} bigger"
            target_shapes = shapes[:i] + ([new] if new is not None else []) + shapes[i + 1 :]
            edit = {"type": edit_type, "shape": old.kind, "color": old.color}
            if new is not None:
                edit.update(new_shape=new.kind, new_color=new.color)
        source = _render(background, shapes).round().astype(np.uint8)
        target = _render(background, target_shapes).round().astype(np.uint8)
        changed = np.any(source != target, axis=-1)
        if changed.any() and not changed.all():
            return SyntheticSample(source, target, changed, instruction, edit)


def write_synthetic_task(out_dir: str | Path, splits: dict[str, int], size: int = 32, seed: int = 0) -> dict[str, Path]:
    """Write ``out_dir/<split>/manifest.jsonl`` (with images/, masks/, targets/) for every split.

    ``splits`` maps split name (``train``, ``validation``, ``test``) to a sample count. Edit types
    cycle so that every split holds all five. Returns the manifest path of each split.
    """
    out_dir = Path(out_dir)
    manifests = {}
    for split, count in splits.items():
        if split not in SPLIT_SEED_OFFSETS:
            raise ValueError(f"unknown split {split!r}; use {', '.join(SPLIT_SEED_OFFSETS)}")
        rng = np.random.default_rng(seed + SPLIT_SEED_OFFSETS[split])
        root = out_dir / split
        rows = []
        for i in range(count):
            s = make_sample(size, rng, EDIT_TYPES[i % len(EDIT_TYPES)])
            name = f"{split}_{i:05d}"
            paths = save_generated_sample(root, name, s.source, s.target, s.edit_mask)
            rows.append(
                EditSample(
                    id=name,
                    source=paths["images"],
                    instruction=s.instruction,
                    mask=paths["masks"],
                    edit_type=s.edit["type"],
                    target=paths["targets"],
                    metadata={"split": split, "edit": s.edit},
                )
            )
        manifests[split] = write_manifest(rows, root / "manifest.jsonl")
    return manifests
