"""Small mask-annotated benchmarks and training sets built from real photos, no download.

Used by the tests, the docs and the built-in demo: no download, deterministic from a seed.
The photos are the colour images that ship inside scikit-image. Each sample gets an elliptical or
rectangular edit region; its mask is written white = keep, as in the real mask-annotated
benchmarks. The ImgEdit benchmark is laid out as released: every second key of an edit type
edits the previous key's source image (keys share sources and masks), one category sits a folder
deeper, and the metafile's ``id`` paths end in ``.jpg`` while the files are PNG. Three synthetic
"editors" write results folders in the benchmark's result layout:

* ``careful``: performs the edit inside the edit region and leaves every keep-region pixel
  exactly unchanged (keep-region PSNR = :data:`~cocoedit.core.metrics.PSNR_IDENTICAL_DB`).
* ``drifting``: the same edit, plus every keep-region pixel moved by exactly
  ``DRIFT_LEVELS`` grey levels (up where that stays in range, else down), so the keep-region
  MAE is ``DRIFT_LEVELS / 255`` and the PSNR ``20 log10(255 / DRIFT_LEVELS)`` (30.07 dB).
* ``global``: the same edit, then the whole image blurred and written at a different resolution,
  like an editor that re-renders everything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from cocoedit.core.optional import require
from cocoedit.data.manifest import EditSample, save_generated_sample, write_manifest
from cocoedit.eval.benchmarks import BenchName

DRIFT_LEVELS = 8
EDITORS = ("careful", "drifting", "global")

# (category, instruction template, edit) per benchmark; edits are functions on uint8 HxWx3 arrays.
GEDIT_TASKS = ("color_alter", "subject-remove", "tone_transfer")
IMGEDIT_TYPES = (("animal", "adjust"), ("daily object", "remove"), ("human", "style"))
INSTRUCTIONS = {
    "color_alter": "Change the colour of the marked object to a cool blue.",
    "subject-remove": "Remove the marked object and fill in the background.",
    "tone_transfer": "Give the marked area a warm sunset tone.",
    "adjust": "Make the marked part look blue instead.",
    "remove": "Remove the marked object.",
    "style": "Turn the marked area into a posterised cartoon style.",
}
# ImgEdit: the second edit of a shared source, and a category kept one folder deeper, as in
# ImgEdit's nested source folders.
ALT_INSTRUCTIONS = {
    "adjust": "Give the marked part a blue tint.",
    "remove": "Take the marked object away.",
    "style": "Redraw the marked area as a flat cartoon.",
}
IMGEDIT_SUBFOLDERS = {"daily object": "kitchen/"}


def _photos() -> list[np.ndarray]:
    data = require("skimage.data", "the sample photos (cocoedit dev make-bench / make-dataset)")

    names = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")
    return [np.asarray(getattr(data, n)())[..., :3] for n in names]


def _edit(kind: str, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Edited version of ``region`` (uint8 HxWx3); every kind changes every pixel noticeably."""
    r = region.astype(np.int16)
    if kind in ("color_alter", "adjust"):
        out = r[..., [2, 0, 1]] // 2 + np.array([20, 60, 127])
    elif kind in ("subject-remove", "remove"):
        out = np.broadcast_to(r.reshape(-1, 3).mean(0), r.shape) + rng.integers(-6, 7, r.shape)
        out = np.where(np.abs(out - r) < 24, 255 - r, out)  # guarantee a visible change
    elif kind == "tone_transfer":
        out = r * np.array([1.0, 0.7, 0.4]) + np.array([70, 30, 0])
    else:  # posterise
        out = (r // 64) * 64 + 32
        out = np.where(np.abs(out - r) < 12, 255 - r, out)
    return np.clip(out, 0, 255).astype(np.uint8)


def _edit_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Bool HxW edit region covering roughly 10-35 % of the image, away from the border."""
    cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.35, 0.65) * w
    ry, rx = rng.uniform(0.18, 0.32) * h, rng.uniform(0.18, 0.32) * w
    yy, xx = np.mgrid[0:h, 0:w]
    if rng.random() < 0.5:
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    return (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)


def _drift(image: np.ndarray, keep: np.ndarray) -> np.ndarray:
    up = image.astype(np.int16) + DRIFT_LEVELS
    down = image.astype(np.int16) - DRIFT_LEVELS
    moved = np.where(up <= 255, up, down)
    return np.where(keep[..., None], moved, image).astype(np.uint8)


@dataclass(frozen=True)
class SampleBenchmark:
    bench: BenchName
    bench_dir: Path
    results: dict[str, Path]  # editor name -> results folder
    samples: int


def _crop(photo: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``photo`` with the aspect ratio h:w, resized to (h, w): every sample differs."""
    scale = rng.uniform(0.6, 0.95)
    ch = int(min(photo.shape[0], photo.shape[1] * h / w) * scale)
    cw = int(ch * w / h)
    y0 = rng.integers(0, photo.shape[0] - ch + 1)
    x0 = rng.integers(0, photo.shape[1] - cw + 1)
    return np.asarray(Image.fromarray(photo[y0 : y0 + ch, x0 : x0 + cw]).resize((w, h), Image.LANCZOS))


def _save_source(folder: Path, name: str, source: np.ndarray, edit: np.ndarray) -> None:
    """``folder/<name>.png`` and its mask ``<name>_mask.png``, white = keep as in the benchmarks."""
    path = folder / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(source).save(path)
    Image.fromarray(np.where(edit, 0, 255).astype(np.uint8)).save(path.with_name(f"{path.stem}_mask.png"))


def make_sample_benchmark(
    out_dir: str | Path, bench: BenchName, per_category: int = 2, size: tuple[int, int] = (96, 128), seed: int = 0
) -> SampleBenchmark:
    """Write a benchmark (``out_dir/bench``) and one results folder per editor (``out_dir/<editor>``).

    ``size`` is (height, width) of the source images. Deterministic for a given seed.
    """
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    photos = _photos()
    bench_dir = out_dir / "bench"
    results = {name: out_dir / name for name in EDITORS}
    h, w = size
    metafile: dict[str, dict] = {}
    categories = GEDIT_TASKS if bench == "gedit" else IMGEDIT_TYPES
    index = 0
    for category in categories:
        for j in range(per_category):
            kind = category if bench == "gedit" else category[1]
            index += 1
            # ImgEdit keys share source images (its metafile has 737 keys over 171 images): every
            # second key of a type edits the previous key's source, in the same region, anew.
            shared = bench == "imgedit" and j % 2 == 1
            if not shared:
                source = _crop(photos[(index - 1) % len(photos)], h, w, rng)
                edit, file_id = _edit_mask(h, w, rng), None
            edited = source.copy()
            edited[edit] = _edit(kind, source[edit][None], rng)[0]
            if bench == "gedit":
                key = f"{index:04d}"
                folder = bench_dir / "fullset" / category / "en"
                result_rel = Path("fullset") / category / "en" / f"{key}.png"
                metafile[key] = {
                    "key": key,
                    "task_type": category,
                    "instruction": INSTRUCTIONS[kind],
                    "instruction_language": "en",
                    "Intersection_exist": index % 2 == 0,
                }
                _save_source(folder, key, source, edit)
            else:
                folder_name, _edit_type = category
                if file_id is None:
                    file_id = f"{folder_name}/{IMGEDIT_SUBFOLDERS.get(folder_name, '')}{index:06d}"
                    _save_source(bench_dir / "singleturn", file_id, source, edit)
                result_rel = Path(f"{index}.png")
                instruction = (ALT_INSTRUCTIONS if shared else INSTRUCTIONS)[kind]
                metafile[str(index)] = {"id": f"{file_id}.jpg", "prompt": instruction, "edit_type": kind}
            outputs = {
                "careful": Image.fromarray(edited),
                "drifting": Image.fromarray(_drift(edited, ~edit)),
                "global": Image.fromarray(edited)
                .filter(ImageFilter.GaussianBlur(1.5))
                .resize((w * 3 // 2, h * 3 // 2), Image.BICUBIC),
            }
            for name, image in outputs.items():
                target = results[name] / result_rel
                target.parent.mkdir(parents=True, exist_ok=True)
                image.save(target)
    meta_name = "metafile_geditbench.json" if bench == "gedit" else "metafile_imgeditbench.json"
    (bench_dir / meta_name).write_text(json.dumps(metafile, indent=1), encoding="utf-8")
    return SampleBenchmark(bench=bench, bench_dir=bench_dir, results=results, samples=index)


def make_sample_manifest(
    out_dir: str | Path, samples: int = 8, size: tuple[int, int] = (64, 64), seed: int = 0
) -> Path:
    """A small training set in our manifest format: real-photo crops, an edit region each, an
    instruction and the exact target (the ``careful`` edit). Masks are written white = edit.

    Returns the manifest path (``out_dir/manifest.jsonl``).
    """
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    photos = _photos()
    kinds = list(INSTRUCTIONS)
    h, w = size
    rows = []
    for i in range(samples):
        photo = photos[i % len(photos)]
        side = int(min(photo.shape[:2]) * rng.uniform(0.5, 0.9))
        y0 = rng.integers(0, photo.shape[0] - side + 1)
        x0 = rng.integers(0, photo.shape[1] - side + 1)
        source = np.asarray(Image.fromarray(photo[y0 : y0 + side, x0 : x0 + side]).resize((w, h), Image.LANCZOS))
        edit = _edit_mask(h, w, rng)
        kind = kinds[i % len(kinds)]
        target = source.copy()
        target[edit] = _edit(kind, source[edit][None], rng)[0]
        name = f"{i:04d}"
        paths = save_generated_sample(out_dir, name, source, target, edit)
        rows.append(
            EditSample(
                id=name,
                source=paths["images"],
                instruction=INSTRUCTIONS[kind],
                mask=paths["masks"],
                edit_type=kind,
                target=paths["targets"],
            )
        )
    return write_manifest(rows, out_dir / "manifest.jsonl")
