"""A corpus of broken inputs fed to the commands a user runs on their own files.

Every case builds one broken input (a manifest, an image, a mask, a config, a table, a benchmark or
results folder, a run folder) in its own folder, runs one command in-process and asserts:

* the outcome it should get: a named error (exit status 1 or 2, the file, row, key or value named
  in the output, no traceback), or, for the documented acceptances (``docs/data.md``, "What each
  kind of bad input gets"), success;
* that no file that existed before the command changed or disappeared, and that nothing was
  written outside the folder the command may write to.

No model is ever loaded: every broken input must be refused before that (``load_backbone`` is
replaced by a function that fails the test).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image, ImageFilter
from typer.testing import CliRunner

import cocoedit.models.registry
from cocoedit.cli import app
from cocoedit.core.presets import PRESETS_FOLDER
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply
from cocoedit.testing.sample_data import make_sample_benchmark, make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline
from cocoedit.testing.trainer import tiny_training_config

runner = CliRunner()
SIZE = 64
ROW1 = "line 1|manifest.jsonl:1"  # how a row is named: `data validate` and the other commands


# ----------------------------------------------------------------------------- broken files


def huge_png(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit PNG of ``width x height`` pixels written in a few hundred KB (a pixel bomb)."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def truncated_png(path: Path, like: Path) -> Path:
    data = like.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def sixteen_bit_png(path: Path, like: Path) -> Path:
    grey = np.asarray(Image.open(like).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(path)  # a uint16 array is a 16-bit greyscale PNG
    return path


# ----------------------------------------------------------------------------- the corpus


@dataclass
class Case:
    """One broken input. ``build(folder, base)`` writes it under ``folder`` and returns the command
    line; ``names`` must all appear in the output; ``writes`` are the path prefixes (relative to
    ``folder``) under which the command may create files."""

    name: str
    build: Callable[[Path, Base], list[str]]
    names: list[str] = field(default_factory=list)  # "a|b": either
    exit_codes: tuple[int, ...] = (1, 2)
    writes: tuple[str, ...] = ("out/",)
    patch: Callable[[pytest.MonkeyPatch], None] | None = None  # e.g. a disk that fills up
    replaces: tuple[str, ...] = ()  # links (relative to ``folder``) the command replaces by files


@dataclass
class Base:
    model: Path
    dataset: Path  # a folder holding manifest.jsonl, images/, masks/, targets/
    bench: Path  # a GEdit-layout benchmark folder: bench/ and results folders careful/ ...
    imgedit: Path  # the same for ImgEdit
    judge_url: str
    judge_model: str


CASES: list[Case] = []


def case(name: str, names=(), exit_codes=(1, 2), writes=("out/",), patch=None, replaces=()):
    def register(build):
        CASES.append(Case(name, build, list(names), tuple(exit_codes), tuple(writes), patch, tuple(replaces)))
        return build

    return register


OPEN_SOCKETS: list[socket.socket] = []  # held while a case's command runs (a port in use)


def dataset(folder: Path, base: Base) -> Path:
    """A copy of the good dataset under ``folder/ds``; returns its manifest."""
    shutil.copytree(base.dataset, folder / "ds")
    return folder / "ds" / "manifest.jsonl"


def rows(manifest: Path) -> list[dict]:
    return [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_rows(manifest: Path, records: list[dict]) -> None:
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def edit_row(folder: Path, base: Base, **changes) -> Path:
    """The good dataset with row 0 changed (``None`` deletes a field)."""
    manifest = dataset(folder, base)
    records = rows(manifest)
    for key, value in changes.items():
        if value is None:
            records[0].pop(key, None)
        else:
            records[0][key] = value
    write_rows(manifest, records)
    return manifest


def validate(manifest: Path) -> list[str]:
    return ["data", "validate", str(manifest)]


# --- manifests, checked by `data validate` (and the trainer: see TRAIN_ROWS) -----------------


def replace_file(folder: Path, base: Base, field_name: str, make: Callable[[Path, Path], None]) -> Path:
    """The good dataset with row 0's ``field_name`` file replaced by ``make(path, original)``."""
    manifest = dataset(folder, base)
    record = rows(manifest)[0]
    path = manifest.parent / record[field_name]
    original = folder / "original.png"
    shutil.move(path, original)
    make(path, original)
    return manifest


def _mask_values(value) -> Callable[[Path, Path], None]:
    def make(path: Path, original: Path) -> None:
        h, w = Image.open(original).size[::-1]
        Image.fromarray(np.full((h, w), value, np.uint8)).save(path)

    return make


def _jpeg_mask(path: Path, original: Path) -> None:
    jpeg = path.with_suffix(".jpg")
    Image.open(original).convert("L").save(jpeg, quality=30)
    path.write_bytes(jpeg.read_bytes())
    jpeg.unlink()


def _small_mask(path: Path, original: Path) -> None:
    Image.open(original).resize((SIZE // 2, SIZE // 2)).save(path)


def _text_file(path: Path, original: Path) -> None:
    path.write_text("not an image\n")


def _empty_file(path: Path, original: Path) -> None:
    path.write_bytes(b"")


def _folder(path: Path, original: Path) -> None:
    path.mkdir()


def _bomb(path: Path, original: Path) -> None:
    huge_png(path, 20_000, 20_000)


def _truncated(path: Path, original: Path) -> None:
    truncated_png(path, original)


def _escaping_symlink(path: Path, original: Path) -> None:
    outside = path.parents[2] / "outside.png"
    shutil.copy(original, outside)
    path.symlink_to(outside)


FILE_PROBLEMS = {
    "a text file": (_text_file, ["not a readable image"]),
    "an empty file": (_empty_file, []),
    "a folder": (_folder, []),
    "a pixel bomb": (_bomb, ["400000000"]),
    "a truncated PNG": (_truncated, []),
    "a symlink out of the dataset": (_escaping_symlink, ["outside"]),
}
for _field in ("source", "mask", "target"):
    for _problem, (_make, _names) in FILE_PROBLEMS.items():
        case(f"validate: {_field} is {_problem}", names=[ROW1, *_names])(
            lambda folder, base, f=_field, m=_make: validate(replace_file(folder, base, f, m))
        )
    case(f"validate: {_field} file is missing", names=[ROW1, "not found"])(
        lambda folder, base, f=_field: validate(replace_file(folder, base, f, lambda p, o: None))
    )


def _photo_mask(path: Path, original: Path) -> None:
    """A photo saved where the mask should be (greyscale, the mask's size)."""
    from skimage import data

    Image.fromarray(data.astronaut()).convert("L").resize(Image.open(original).size).save(path)


MASK_PROBLEMS = {
    "all zero (nothing to edit)": _mask_values(0),
    "all white (everything edited)": _mask_values(255),
    "all grey (not a mask)": _mask_values(128),
    "a photo (not a mask)": _photo_mask,
    "smaller than its image": _small_mask,
}
for _problem, _make in MASK_PROBLEMS.items():
    case(f"validate: mask {_problem}", names=[ROW1])(
        lambda folder, base, m=_make: validate(replace_file(folder, base, "mask", m))
    )


def _zero_one_mask(path: Path, original: Path) -> None:
    Image.fromarray((np.asarray(Image.open(original).convert("L")) > 127).astype(np.uint8)).save(path)


def _soft_edged_mask(path: Path, original: Path) -> None:
    Image.open(original).convert("L").filter(ImageFilter.GaussianBlur(1)).save(path)


# Masks as users have them are read as masks (documented): 0/1 values, grey pixels binarised at
# 0.5 with a warning naming the grey share.
case("validate accepts: a mask saved with values 0/1", exit_codes=(0,))(
    lambda folder, base: validate(replace_file(folder, base, "mask", _zero_one_mask))
)
case("validate accepts with a warning: a JPEG mask", names=["grey_mask_pixels", "0.5"], exit_codes=(0,))(
    lambda folder, base: validate(replace_file(folder, base, "mask", _jpeg_mask))
)
case("validate accepts with a warning: a mask with soft edges", names=["grey_mask_pixels"], exit_codes=(0,))(
    lambda folder, base: validate(replace_file(folder, base, "mask", _soft_edged_mask))
)


def _sideways(folder: Path, base: Base) -> Path:
    """Row 0 made 48 wide x 64 high as shown, its source stored sideways (64 x 48) with EXIF
    orientation 6 as a phone writes it, its mask and target stored as shown."""
    manifest = dataset(folder, base)
    record = rows(manifest)[0]
    for name in ("source", "mask", "target"):
        path = manifest.parent / record[name]
        resample = Image.Resampling.NEAREST if name == "mask" else Image.Resampling.BICUBIC
        Image.open(path).resize((48, 64), resample).save(path)
    source = manifest.parent / record["source"]
    exif = Image.Exif()
    exif[0x0112] = 6  # shown = stored turned a quarter clockwise
    Image.open(source).transpose(Image.Transpose.ROTATE_90).save(source, exif=exif.tobytes())
    return manifest


case("validate accepts: a photo stored sideways with EXIF orientation (read upright)", exit_codes=(0,))(
    lambda folder, base: validate(_sideways(folder, base))
)

FIELD_PROBLEMS = {
    "id missing": dict(id=None),
    "id empty": dict(id=""),
    "id with ../": dict(id="../escape"),
    "id absolute": dict(id="/tmp/escape"),
    "id a number": dict(id=7),
    "source missing": dict(source=None),
    "source outside the root": dict(source="../outside.png"),
    "source absolute elsewhere": dict(source="/etc/hostname"),
    "source a number": dict(source=3),
    "instruction missing": dict(instruction=None),
    "instruction empty": dict(instruction=""),
    "instruction blank": dict(instruction="  \t "),
    "instruction a list": dict(instruction=["a", "b"]),
    "mask missing": dict(mask=None),
    "mask_polarity unknown": dict(mask_polarity="black"),
    "instruction of 100,000 characters": dict(instruction="make it blue " * 7693),
    "metadata not an object": dict(metadata=[1, 2]),
    "an unknown field": dict(colour="red"),
}
for _problem, _changes in FIELD_PROBLEMS.items():
    case(f"validate: {_problem}", names=[ROW1])(lambda folder, base, c=_changes: validate(edit_row(folder, base, **c)))


def _raw_manifest(text: bytes, names=()):
    def build(folder: Path, base: Base) -> list[str]:
        manifest = dataset(folder, base)
        manifest.write_bytes(text)
        return validate(manifest)

    return build


for _problem, _text, _names in [
    ("an empty manifest", b"", ["no rows"]),
    ("only blank lines", b"\n\n  \n", ["no rows"]),
    ("a line that is not JSON", b'{"id": "0000", "source": \n', [ROW1]),
    ("a JSON list line", b"[1, 2, 3]\n", [ROW1]),
    ("a JSON string line", b'"hello"\n', [ROW1]),
    ("bytes that are not UTF-8", b'{"id": "\xff\xfe"}\n', ["manifest.jsonl", "UTF-8"]),
]:
    case(f"validate: {_problem}", names=_names)(_raw_manifest(_text))


@case("validate: a torn last line", names=["line 3|jsonl:3"])
def _torn_last_line(folder, base):
    manifest = dataset(folder, base)
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text[: len(text) - 40], encoding="utf-8")
    return validate(manifest)


@case("validate: duplicate ids", names=["0000"])
def _duplicate_ids(folder, base):
    manifest = dataset(folder, base)
    records = rows(manifest)
    write_rows(manifest, records + [records[0]])
    return validate(manifest)


@case("validate accepts: ids x and x.png (files x.png and x.png.png)", exit_codes=(0,))
def _suffix_like_ids(folder, base):
    manifest = dataset(folder, base)
    records = rows(manifest)
    records[0]["id"], records[1]["id"] = "x", "x.png"
    write_rows(manifest, records)
    return validate(manifest)


@case("validate accepts: an id with a separator (the file name replaces it)", exit_codes=(0,))
def _separator_id(folder, base):
    return validate(edit_row(folder, base, id="images/a/0001"))


@case("validate: the manifest is missing", names=["nothing.jsonl"])
def _missing_manifest(folder, base):
    return validate(folder / "nothing.jsonl")


@case("validate: the manifest is a folder", names=["ds"])
def _manifest_folder(folder, base):
    dataset(folder, base)
    return validate(folder / "ds")


# Documented acceptances: converted correctly, or read back as written.
def _accepted_source(make):
    def build(folder: Path, base: Base) -> list[str]:
        return validate(replace_file(folder, base, "source", make))

    return build


case("validate accepts: a 16-bit source", exit_codes=(0,))(_accepted_source(sixteen_bit_png))
case("validate accepts: a palette source", exit_codes=(0,))(
    _accepted_source(lambda p, o: Image.open(o).convert("P").save(p))
)
case("validate accepts: an RGBA source", exit_codes=(0,))(
    _accepted_source(lambda p, o: Image.open(o).convert("RGBA").save(p))
)
case("validate accepts: a greyscale source", exit_codes=(0,))(
    _accepted_source(lambda p, o: Image.open(o).convert("L").save(p))
)


@case("validate accepts: a byte-order mark", exit_codes=(0,))
def _bom(folder, base):
    manifest = dataset(folder, base)
    manifest.write_bytes(b"\xef\xbb\xbf" + manifest.read_bytes())
    return validate(manifest)


@case("validate accepts: line separators inside an instruction", exit_codes=(0,))
def _line_separators(folder, base):
    return validate(edit_row(folder, base, instruction="make it\u2028blue\u0085now\u2029please\x1c"))


@case("validate accepts: CRLF line ends", exit_codes=(0,))
def _crlf(folder, base):
    manifest = dataset(folder, base)
    manifest.write_bytes(manifest.read_bytes().replace(b"\n", b"\r\n"))
    return validate(manifest)


# --- train: the same row checks before the model loads, and its config --------------------


def train_config(folder: Path, base: Base, manifest: Path | None = None, **sections) -> dict:
    return tiny_training_config(base.model, manifest or dataset(folder, base), **sections)


def rewards(*components: dict) -> dict:
    return {"components": list(components)}


def train(folder: Path, cfg: dict | str | bytes) -> list[str]:
    path = folder / "config.yaml"
    if isinstance(cfg, dict):
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    elif isinstance(cfg, str):
        path.write_text(cfg, encoding="utf-8")
    else:
        path.write_bytes(cfg)
    return ["train", "--config", str(path), "--run-dir", str(folder / "out")]


TRAIN_ROWS = {
    "mask all zero": ("mask", _mask_values(0)),
    "mask all white": ("mask", _mask_values(255)),
    "mask grey": ("mask", _mask_values(128)),
    "mask a photo": ("mask", _photo_mask),
    "mask smaller than its image": ("mask", _small_mask),
    "source a text file": ("source", _text_file),
    "source a pixel bomb": ("source", _bomb),
    "source a symlink out of the dataset": ("source", _escaping_symlink),
    "source truncated": ("source", _truncated),
}
for _problem, (_field, _make) in TRAIN_ROWS.items():
    case(f"train: {_problem}", names=[ROW1])(
        lambda folder, base, f=_field, m=_make: train(
            folder, train_config(folder, base, replace_file(folder, base, f, m))
        )
    )


@case("train: an empty manifest", names=["no rows"])
def _train_empty(folder, base):
    manifest = dataset(folder, base)
    manifest.write_text("")
    return train(folder, train_config(folder, base, manifest))


@case("train: blank instruction", names=[ROW1, "instruction"])
def _train_blank(folder, base):
    return train(folder, train_config(folder, base, edit_row(folder, base, instruction=" ")))


def _train_setting(problem: str, names: list[str], **sections):
    case(f"train: {problem}", names=names)(lambda folder, base: train(folder, train_config(folder, base, **sections)))


_train_setting("unknown top-level key", ["colour"], colour={"x": 1})
_train_setting("unknown nested key", ["optim.learning_rate"], optim={"learning_rate": 1.0})
_train_setting("learning rate not a number", ["optim.lr"], optim={"lr": "fast"})
_train_setting("negative learning rate", ["optim.lr"], optim={"lr": -1.0})
_train_setting("NaN learning rate", ["optim.lr"], optim={"lr": float("nan")})
_train_setting(
    "negative reward weight",
    ["reward.components.0.weight", "greater than or equal to 0"],
    reward=rewards({"name": "pixel", "weight": -1.0}),
)
_train_setting("unknown reward", ["'ocr'", "not a built-in reward"], reward=rewards({"name": "ocr"}))
_train_setting("no reward", ["reward.components", "at least 1 item"], reward=rewards())
_train_setting(
    "a reward component named twice", ["'pixel'", "more than once"], reward=rewards(*[{"name": "pixel"}] * 2)
)
_train_setting(
    "a misspelt option of a built-in reward",
    ["reward.components.0.options", "psnr_wieght", "psnr_weight"],
    reward=rewards({"name": "pixel", "options": {"psnr_wieght": 0.5}}),
)
_train_setting(
    "a reward path that imports nothing",
    ["my_rewards.scores.Sharpness", "my_rewards.scores, my_rewards"],
    reward=rewards({"name": "sharp", "function": "my_rewards.scores.Sharpness"}),
)
_train_setting(
    "old and new reward forms mixed",
    ["reward.components", "reward.weights"],
    reward={"components": [{"name": "pixel"}], "weights": {"pixel": 1.0}},
)
_train_setting(
    "old reward form with a function nobody weighs",
    ["reward.functions", "'sharp'"],
    reward={"weights": {"pixel": 1.0}, "functions": {"sharp": "my_rewards:Sharpness"}},
)
_train_setting("an unknown tracker", ["train.report_to", "mlflow"], train={"report_to": ["mlflow"]})
_train_setting(
    "a tracker named twice", ["train.report_to", "tensorboard twice"], train={"report_to": ["tensorboard"] * 2}
)
_train_setting("zero epochs", ["train.epochs"], train={"epochs": 0})
_train_setting("an unknown device", ["tpu9"], train={"epochs": 1, "device": "tpu9"})
_train_setting("cuda on a machine without it", ["cuda"], train={"epochs": 1, "device": "cuda"})
_train_setting(
    "an unknown backbone option",
    ["colour_space"],
    model={"backbone_options": {"max_sequence_length": 48, "colour_space": "lab"}},
)
_train_setting("a huge working height", ["model.height", "4096"], model={"height": 100_000})
_train_setting("a height the VAE cannot use", ["60"], model={"height": 60})
_train_setting("a model folder that does not exist", ["no-such-model"], model={"path": "no-such-model"})
_train_setting("a validation manifest that does not exist", ["val.jsonl"], data={"validation_manifest": "val.jsonl"})


@case("train: the judge is down", names=["127.0.0.1:9", "not reachable"])
def _train_judge_down(folder, base):
    endpoint = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "max_retries": 0, "unreachable_timeout_s": 0}
    judge = {"name": "judge", "options": {"endpoint": endpoint}}
    return train(folder, train_config(folder, base, reward=rewards(judge)))


@case("train: a config that is not UTF-8", names=["config.yaml", "UTF-8"])
def _train_latin1(folder, base):
    text = yaml.safe_dump(train_config(folder, base)) + "# caf\xe9\n"
    return train(folder, text.encode("latin-1"))


@case("train: duplicate YAML keys", names=["train", "line"])
def _train_duplicate_keys(folder, base):
    text = yaml.safe_dump(train_config(folder, base)) + "train:\n  epochs: 5\n"
    return train(folder, text)


@case("train: YAML syntax error", names=["config.yaml"])
def _train_syntax(folder, base):
    return train(folder, yaml.safe_dump(train_config(folder, base)) + "model: [unclosed\n")


@case("train: YAML that is a list", names=["config.yaml"])
def _train_list(folder, base):
    return train(folder, "- model\n- data\n")


@case("train: an empty config", names=["config.yaml"])
def _train_empty_config(folder, base):
    return train(folder, "")


@case("train: the config is a folder", names=["conf.d"])
def _train_config_folder(folder, base):
    (folder / "conf.d").mkdir()
    return ["train", "--config", str(folder / "conf.d"), "--run-dir", str(folder / "out")]


@case("train: the config is missing", names=["missing.yaml"])
def _train_config_missing(folder, base):
    return ["train", "--config", str(folder / "missing.yaml"), "--run-dir", str(folder / "out")]


@case("train: --config names no preset (a typo)", names=["kontxt", "did you mean 'kontext'", "tiny"])
def _train_preset_typo(folder, base):
    return ["train", "--config", "kontxt", "--run-dir", str(folder / "out")]


@case("train: --config names a curation preset", names=["curation_local_edits", "data build", "kontext"])
def _train_curation_preset(folder, base):
    return ["train", "--config", "curation_local_edits", "--run-dir", str(folder / "out")]


@case("train: --config is an old configs/ path", names=["configs/tiny.yaml", "--config tiny"])
def _train_old_preset_path(folder, base):
    return ["train", "--config", str(folder / "configs" / "tiny.yaml"), "--run-dir", str(folder / "out")]


@case("train: --set without '='", names=["optim.lr"])
def _train_set_syntax(folder, base):
    return [*train(folder, train_config(folder, base)), "--set", "optim.lr"]


@case("train: --set an unknown key", names=["--set optim.speed=3: unknown key"])
def _train_set_unknown(folder, base):
    return [*train(folder, train_config(folder, base)), "--set", "optim.speed=3"]


@case("train: the run folder is a file", names=["out"], writes=())
def _train_run_dir_file(folder, base):
    args = train(folder, train_config(folder, base))
    (folder / "out").write_text("a file")
    return args


@case("train: --resume of a folder without a run", names=["no config.yaml"])
def _train_resume_nothing(folder, base):
    (folder / "out").mkdir()
    return ["train", "--resume", "--run-dir", str(folder / "out")]


# --- data import --------------------------------------------------------------------------


def pair_table(
    folder: Path, base: Base, changes: dict[int, dict] | None = None, extra: list[dict] | None = None
) -> Path:
    """A JSONL pair table over the good dataset's images (columns id, source, target, instruction)."""
    ds = folder / "ds"
    shutil.copytree(base.dataset, ds)
    records = [
        {"id": r["id"], "source": r["source"], "target": r["target"], "instruction": r["instruction"]}
        for r in rows(ds / "manifest.jsonl")
    ]
    for i, change in (changes or {}).items():
        records[i].update(change)
    table = ds / "pairs.jsonl"
    write_rows(table, records + (extra or []))
    return table


def import_(table: Path, out: Path) -> list[str]:
    return ["data", "import", str(table), "--out", str(out)]


# A row that cannot be imported is skipped, named with its reason on the console and in
# import_skipped.jsonl, and the others are imported (documented; --strict stops instead).
for _problem, _change, _names in [
    ("a source cell naming a text file", {"source": "manifest.jsonl"}, ["row 1", "manifest.jsonl"]),
    ("a source cell naming /etc/hostname", {"source": "/etc/hostname"}, ["row 1", "/etc/hostname"]),
    ("a source cell naming a missing file", {"source": "images/none.png"}, ["row 1", "none.png"]),
    ("an empty instruction", {"instruction": ""}, ["row 1", "instruction"]),
    ("an id with ../", {"id": "../escape"}, ["row 1", "../escape"]),
    ("an absolute id", {"id": "/tmp/escape"}, ["row 1", "/tmp/escape"]),
    ("ids Cat and cat", {"id": "cat"}, ["row 2", "Cat", "cat"]),
]:
    case(f"import skips: {_problem}", names=_names, exit_codes=(0,))(
        lambda folder, base, c=_change: import_(
            pair_table(folder, base, {0: c, 1: {"id": "Cat"}} if c.get("id") == "cat" else {0: c}), folder / "out"
        )
    )


@case("import: --strict stops at a row naming a text file", names=["row 1", "manifest.jsonl"])
def _import_strict(folder, base):
    return [*import_(pair_table(folder, base, {0: {"source": "manifest.jsonl"}}), folder / "out"), "--strict"]


@case("import skips: a truncated source image", names=["row 1", "broken.png"], exit_codes=(0,))
def _import_truncated(folder, base):
    table = pair_table(folder, base)
    truncated_png(folder / "ds" / "broken.png", folder / "ds" / "images" / "0000.png")
    records = rows(table)
    records[0]["source"] = "broken.png"
    write_rows(table, records)
    return import_(table, folder / "out")


@case("import accepts: ids x and x.png", exit_codes=(0,))
def _import_x_and_x_png(folder, base):
    return import_(pair_table(folder, base, {0: {"id": "x"}, 1: {"id": "x.png"}}), folder / "out")


@case("import: --out is the table's own folder", names=["ds"], writes=())
def _import_into_itself(folder, base):
    table = pair_table(folder, base)
    return import_(table, folder / "ds")


@case("import: a missing column", names=["instruction"])
def _import_missing_column(folder, base):
    table = pair_table(folder, base)
    write_rows(table, [{k: v for k, v in r.items() if k != "instruction"} for r in rows(table)])
    return import_(table, folder / "out")


@case("import: an empty table", names=["pairs.jsonl"])
def _import_empty(folder, base):
    table = pair_table(folder, base)
    table.write_text("")
    return import_(table, folder / "out")


@case("import: a CSV that is not UTF-8", names=["pairs.csv"])
def _import_latin1_csv(folder, base):
    table = pair_table(folder, base)
    csv = folder / "ds" / "pairs.csv"
    lines = ["id,source,target,instruction"] + [
        f"{r['id']},{r['source']},{r['target']},caf\xe9 {r['instruction']}" for r in rows(table)
    ]
    csv.write_bytes("\n".join(lines).encode("latin-1"))
    return import_(csv, folder / "out")


@case("import: a parquet file that is not parquet", names=["pairs.parquet"])
def _import_fake_parquet(folder, base):
    pair_table(folder, base)
    (folder / "ds" / "pairs.parquet").write_text("PAR1 but not really")
    return import_(folder / "ds" / "pairs.parquet", folder / "out")


@case("import accepts: ids with dots get one image each", exit_codes=(0,))
def _import_dotted_ids(folder, base):
    return import_(
        pair_table(folder, base, {0: {"id": "img.000"}, 1: {"id": "img.001"}, 2: {"id": "img.002"}}), folder / "out"
    )


# --- data build (difference masks, no VLM) --------------------------------------------------

CURATION = PRESETS_FOLDER / "curation_pairs_difference.yaml"


def build(manifest: Path, folder: Path) -> list[str]:
    return ["data", "build", "--config", str(CURATION), "--in", str(manifest), "--out", str(folder / "out")]


# A row whose files cannot be read is that sample's failure, recorded with its reason; the
# others are curated and the exit status says the build is incomplete.
for _field in ("source", "target"):
    for _problem in ("a text file", "a pixel bomb", "a truncated PNG"):
        _make = FILE_PROBLEMS[_problem][0]
        case(f"build: {_field} is {_problem}", names=["failed 1", "unreadable_image"])(
            lambda folder, base, f=_field, m=_make: build(replace_file(folder, base, f, m), folder)
        )
    # A path that leaves the dataset is refused when the manifest is read, before any sample runs.
    case(f"build: {_field} is a symlink out of the dataset", names=[ROW1, "outside"])(
        lambda folder, base, f=_field: build(replace_file(folder, base, f, _escaping_symlink), folder)
    )


@case("build: an empty manifest", names=["no rows"])
def _build_empty(folder, base):
    manifest = dataset(folder, base)
    manifest.write_text("")
    return build(manifest, folder)


@case("build: ids Cat and cat", names=["Cat", "cat"])
def _build_colliding_ids(folder, base):
    manifest = dataset(folder, base)
    records = rows(manifest)
    records[0]["id"], records[1]["id"] = "Cat", "cat"
    write_rows(manifest, records)
    return build(manifest, folder)


@case("build: a preset that says media: symlink", names=["preset.yaml", "media", "'copy' or 'link'"])
def _build_symlink_media(folder, base):
    manifest = dataset(folder, base)
    preset = folder / "preset.yaml"
    preset.write_text(CURATION.read_text(encoding="utf-8").replace("media: copy", "media: symlink"))
    return ["data", "build", "--config", str(preset), "--in", str(manifest), "--out", str(folder / "out")]


@case("build: --config names a training preset", names=["tiny", "cocoedit train", "curation_pairs_difference"])
def _build_training_preset(folder, base):
    return ["data", "build", "--config", "tiny", "--in", str(dataset(folder, base)), "--out", str(folder / "out")]


# --- eval consistency and eval judge ------------------------------------------------------


def bench_copy(folder: Path, base: Base) -> tuple[Path, Path]:
    shutil.copytree(base.bench / "bench", folder / "bench")
    shutil.copytree(base.bench / "careful", folder / "careful")
    return folder / "bench", folder / "careful"


def consistency(bench: Path, results: Path, folder: Path) -> list[str]:
    return [
        "eval",
        "consistency",
        "--bench",
        "gedit",
        "--bench-dir",
        str(bench),
        "--results",
        str(results),
        "--out",
        str(folder / "out"),
    ]


def first_result(results: Path) -> Path:
    return sorted(results.rglob("*.png"))[0]


def first_mask(bench: Path) -> Path:
    return sorted(bench.rglob("*_mask.png"))[0]


def metafile(bench: Path) -> Path:
    return next(bench.glob("metafile_*.json"))


def _results_problem(make):
    def build(folder: Path, base: Base) -> list[str]:
        bench, results = bench_copy(folder, base)
        path = first_result(results)
        original = folder / "original.png"
        shutil.move(path, original)
        make(path, original)
        return consistency(bench, results, folder)

    return build


# A broken results image is that sample's problem: listed as unreadable, the others scored, exit 1.
for _problem, (_make, _names) in FILE_PROBLEMS.items():
    if _problem != "a symlink out of the dataset":
        case(f"eval consistency: a result is {_problem}", names=["0001"])(_results_problem(_make))


def _bench_problem(make):
    def build(folder: Path, base: Base) -> list[str]:
        bench, results = bench_copy(folder, base)
        make(bench)
        return consistency(bench, results, folder)

    return build


case("eval consistency: a mask is truncated", names=["0001_mask.png"])(
    _bench_problem(lambda b: truncated_png(first_mask(b), first_mask(b)))
)
case("eval consistency: a mask is a pixel bomb", names=["0001_mask.png"])(
    _bench_problem(lambda b: huge_png(first_mask(b), 20_000, 20_000))
)
case("eval consistency: the metafile is not JSON", names=["metafile_geditbench.json"])(
    _bench_problem(lambda b: metafile(b).write_text("{ nope"))
)


def link_out_of_bench(path: Path) -> None:
    """Move a benchmark file beside the benchmark folder and leave a symlink to it in its place."""
    elsewhere = path.parents[4] / "elsewhere.png"  # bench/fullset/<task>/<lang>/<file> -> the case folder
    shutil.move(path, elsewhere)
    path.symlink_to(elsewhere)


def first_source(bench: Path) -> Path:
    return sorted(p for p in bench.rglob("*.png") if not p.stem.endswith("_mask"))[0]


# A benchmark file linked out of the benchmark folder is that sample's error; the others go on.
case("eval consistency: a benchmark source is a symlink out of it", names=["0001", "elsewhere.png", "outside"])(
    _bench_problem(lambda b: link_out_of_bench(first_source(b)))
)
case("eval consistency: a benchmark mask is a symlink out of it", names=["0001_mask", "elsewhere.png", "outside"])(
    _bench_problem(lambda b: link_out_of_bench(first_mask(b)))
)


@case("eval consistency: an ImgEdit metafile key with ../", names=["../0009"])
def _imgedit_unsafe_key(folder, base):
    shutil.copytree(base.imgedit / "bench", folder / "bench")
    meta = metafile(folder / "bench")
    records = json.loads(meta.read_text())
    first = next(iter(records))
    records["../0009"] = records.pop(first)
    meta.write_text(json.dumps(records))
    return [
        "eval",
        "consistency",
        "--bench",
        "imgedit",
        "--bench-dir",
        str(folder / "bench"),
        "--results",
        str(base.imgedit / "careful"),
        "--out",
        str(folder / "out"),
    ]


@case("eval consistency: the results folder is missing", names=["nothing"])
def _consistency_missing_results(folder, base):
    bench, _ = bench_copy(folder, base)
    return consistency(bench, folder / "nothing", folder)


@case("eval consistency: the benchmark folder is missing", names=["nobench"])
def _consistency_missing_bench(folder, base):
    _, results = bench_copy(folder, base)
    return consistency(folder / "nobench", results, folder)


def judge(bench: Path, results: Path, folder: Path, base: Base, *extra: str) -> list[str]:
    return [
        "eval",
        "judge",
        "--bench",
        "gedit",
        "--bench-dir",
        str(bench),
        "--results",
        str(results),
        "--out",
        str(folder / "out"),
        "--model",
        base.judge_model,
        "--base-url",
        base.judge_url,
        *extra,
    ]


@case("eval judge: --cache is not SQLite", names=["cache.db"])
def _judge_cache_text(folder, base):
    bench, results = bench_copy(folder, base)
    (folder / "cache.db").write_text("these are my notes, not a database\n")
    return judge(bench, results, folder, base, "--cache", str(folder / "cache.db"))


@case("eval judge: a result is a pixel bomb", names=["0001"])
def _judge_bomb(folder, base):
    bench, results = bench_copy(folder, base)
    huge_png(first_result(results), 20_000, 20_000)
    return judge(bench, results, folder, base)


@case("eval judge: a benchmark source is a symlink out of it", names=["0001", "unreadable"])
def _judge_linked_source(folder, base):
    bench, results = bench_copy(folder, base)
    link_out_of_bench(first_source(bench))
    return judge(bench, results, folder, base)


@case("eval judge: the judge is down", names=["127.0.0.1:9"])
def _judge_down(folder, base):
    bench, results = bench_copy(folder, base)
    return judge(
        bench,
        results,
        folder,
        Base(base.model, base.dataset, base.bench, base.imgedit, "http://127.0.0.1:9/v1", "m"),
        "--unreachable-timeout",
        "0",
    )


@case("eval judge: an empty instruction in the metafile", names=["0001"])
def _judge_empty_instruction(folder, base):
    bench, results = bench_copy(folder, base)
    meta = json.loads(metafile(bench).read_text())
    meta["0001"]["instruction"] = " "
    metafile(bench).write_text(json.dumps(meta))
    return judge(bench, results, folder, base)


# --- edit: everything checked before the model loads --------------------------------------


def edit(base: Base, *args: str) -> list[str]:
    return ["edit", "--model", str(base.model), *args]


def source_image(folder: Path, base: Base) -> Path:
    shutil.copy(base.dataset / "images" / "0000.png", folder / "in.png")
    return folder / "in.png"


for _problem, (_make, _names) in FILE_PROBLEMS.items():
    if _problem != "a symlink out of the dataset":

        def _edit_bad_image(folder, base, make=_make):
            image = folder / "in.png"
            make(image, base.dataset / "images" / "0000.png")
            return edit(base, "--image", str(image), "--prompt", "make it blue", "-o", str(folder / "out" / "o.png"))

        case(f"edit: --image is {_problem}", names=["in.png"])(_edit_bad_image)


@case("edit: --image is missing", names=["in.png"])
def _edit_missing(folder, base):
    return edit(base, "--image", str(folder / "in.png"), "--prompt", "x", "-o", str(folder / "out" / "o.png"))


@case("edit: an empty --prompt", names=["prompt"])
def _edit_empty_prompt(folder, base):
    return edit(base, "--image", str(source_image(folder, base)), "--prompt", "  ", "-o", str(folder / "out" / "o.png"))


@case("edit: -o with an unknown suffix", names=["o.xyz"])
def _edit_bad_suffix(folder, base):
    return edit(base, "--image", str(source_image(folder, base)), "--prompt", "x", "-o", str(folder / "out" / "o.xyz"))


@case("edit: -o is a folder", names=["out"])
def _edit_output_folder(folder, base):
    (folder / "out").mkdir()
    return edit(base, "--image", str(source_image(folder, base)), "--prompt", "x", "-o", str(folder / "out"))


@case("edit: --size 100000", names=["100000"])
def _edit_huge_size(folder, base):
    return edit(
        base,
        "--image",
        str(source_image(folder, base)),
        "--prompt",
        "x",
        "--size",
        "100000",
        "-o",
        str(folder / "out" / "o.png"),
    )


@case("edit: a source whose working size would exceed 4096", names=["100x5000", "--max-area"])
def _edit_wide_source(folder, base):
    wide = folder / "wide.png"
    Image.fromarray(np.full((100, 5000, 3), 90, np.uint8)).save(wide)
    return edit(base, "--image", str(wide), "--prompt", "x", "-o", str(folder / "out" / "o.png"))


@case("sft: --size 100000", names=["--size", "512"])
def _sft_huge(folder, base):
    return ["sft", "--size", "100000", "--out", str(folder / "out")]


@case("edit: --size the VAE cannot use", names=["60"])
def _edit_odd_size(folder, base):
    return edit(
        base,
        "--image",
        str(source_image(folder, base)),
        "--prompt",
        "x",
        "--size",
        "60",
        "-o",
        str(folder / "out" / "o.png"),
    )


@case("edit: --size not a size", names=["big"])
def _edit_size_word(folder, base):
    return edit(
        base,
        "--image",
        str(source_image(folder, base)),
        "--prompt",
        "x",
        "--size",
        "big",
        "-o",
        str(folder / "out" / "o.png"),
    )


@case("edit: --model does not exist", names=["no-such-model"])
def _edit_missing_model(folder, base):
    return [
        "edit",
        "--model",
        str(folder / "no-such-model"),
        "--image",
        str(source_image(folder, base)),
        "--prompt",
        "x",
        "-o",
        str(folder / "out" / "o.png"),
    ]


@case("edit: --lora does not exist", names=["lora.safetensors"])
def _edit_missing_lora(folder, base):
    return edit(
        base,
        "--image",
        str(source_image(folder, base)),
        "--prompt",
        "x",
        "--lora",
        str(folder / "lora.safetensors"),
        "-o",
        str(folder / "out" / "o.png"),
    )


for _problem, _changes, _names in [
    ("an id with ../", {"id": "../escape"}, ["../escape"]),
    ("an absolute id", {"id": "/tmp/escape"}, ["/tmp/escape"]),
    ("a blank instruction", {"instruction": " "}, [ROW1]),
]:
    case(f"edit --manifest: {_problem}", names=_names)(
        lambda folder, base, c=_changes: edit(
            base, "--manifest", str(edit_row(folder, base, **c)), "--out", str(folder / "out")
        )
    )


@case("edit --manifest: ids Cat and cat (one file where case is ignored)", names=["Cat", "cat"])
def _edit_colliding_ids(folder, base):
    manifest = dataset(folder, base)
    records = rows(manifest)
    records[0]["id"], records[1]["id"] = "Cat", "cat"
    write_rows(manifest, records)
    return edit(base, "--manifest", str(manifest), "--out", str(folder / "out"))


@case("edit --manifest: a source symlinked out of the dataset", names=["outside"])
def _edit_manifest_symlink(folder, base):
    manifest = replace_file(folder, base, "source", _escaping_symlink)
    return edit(base, "--manifest", str(manifest), "--out", str(folder / "out"))


# --- report and stats ---------------------------------------------------------------------


def run_folder(folder: Path, lines: list[str], torn: bool = False) -> Path:
    """A run folder whose metrics.jsonl holds ``lines``; ``torn``: the last one has no line end."""
    run = folder / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("\n".join(lines) + ("" if torn else "\n"), encoding="utf-8")
    return run


METRIC = '{"step": %d, "reward/mean": 0.5, "loss": 0.1}'


@case("report: a bad line in the middle of metrics.jsonl", names=["metrics.jsonl", "line 2|metrics.jsonl:2"])
def _report_bad_middle(folder, base):
    run = run_folder(folder, [METRIC % 1, "{not json", METRIC % 3])
    return ["report", str(run), "--out", str(folder / "out" / "report.html")]


@case("report accepts: a torn last line (a run killed mid-write)", exit_codes=(0,))
def _report_torn_last(folder, base):
    run = run_folder(folder, [METRIC % 1, METRIC % 2, '{"step": 3, "rew'], torn=True)
    return ["report", str(run), "--out", str(folder / "out" / "report.html")]


@case("report: a run folder that does not exist", names=["norun"])
def _report_missing(folder, base):
    return ["report", str(folder / "norun"), "--out", str(folder / "out" / "report.html")]


@case("report: a run folder without metrics", names=["metrics.jsonl"])
def _report_no_metrics(folder, base):
    (folder / "run").mkdir()
    return ["report", str(folder / "run"), "--out", str(folder / "out" / "report.html")]


@case(
    "stats: unreadable rows are not counted as kept",
    names=[ROW1, "unreadable"],
    exit_codes=(0, 1, 2),
    writes=("ds/stats",),
)
def _stats_unreadable(folder, base):
    manifest = replace_file(folder, base, "source", _text_file)
    return ["data", "stats", str(manifest)]


@case("stats: a missing manifest", names=["nothing.jsonl"])
def _stats_missing(folder, base):
    return ["data", "stats", str(folder / "nothing.jsonl")]


# --- the second corpus: inputs that got tracebacks or silent acceptance (issue 20) --------------

_train_setting(
    "nft.timestep_fraction that trains on less than one timestep",
    ["nft.timestep_fraction", "0.0001", "0.5"],  # sampling.steps 2: the smallest fraction is 0.5
    nft={"timestep_fraction": 0.0001},
)
_train_setting(
    "an unknown module in model.lora_targets",
    ["model.lora_targets", "to_qq", "to_q"],
    model={"lora_targets": ["to_qq"]},
)
_train_setting("a LoRA target that is a norm", ["model.lora_targets", "norm_q"], model={"lora_targets": ["norm_q"]})
_train_setting(
    "a backbone option of the wrong type",
    ["max_sequence_length", "whole number"],
    model={"backbone_options": {"max_sequence_length": "long"}},
)


@case("train: --resume true (a flag given a value)", names=["--resume", "no value"])
def _train_resume_true(folder, base):
    return ["train", "--resume", "true", "--run-dir", str(folder / "out")]


@case("import skips: a NaN id", names=["row 1", "NaN"], exit_codes=(0,))
def _import_nan_id(folder, base):
    table = pair_table(folder, base)
    text = table.read_text(encoding="utf-8").replace('"id": "0000"', '"id": NaN', 1)  # what json.dumps writes
    table.write_text(text, encoding="utf-8")
    return import_(table, folder / "out")


@case("import skips: a 100,000-character instruction", names=["row 1", "characters long", "2,000"], exit_codes=(0,))
def _import_huge_instruction(folder, base):
    return import_(pair_table(folder, base, {0: {"instruction": "make it blue " * 7693}}), folder / "out")


def _disk_fills_up(monkeypatch: pytest.MonkeyPatch, after: int = 2) -> None:
    """The file system is full after ``after`` image files were copied."""
    import cocoedit.data.importers

    copied = []
    real_copy = shutil.copyfile

    def copy(src, dst, *args, **kwargs):
        if len(copied) >= after:
            with open(dst, "wb") as out:  # what a full disk leaves: the first bytes of the file
                out.write(Path(src).read_bytes()[:64])
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        copied.append(dst)
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(cocoedit.data.importers.shutil, "copyfile", copy)


@case("import: the disk fills up (ENOSPC)", names=["no space left", "run the same command again"], patch=_disk_fills_up)
def _import_disk_full(folder, base):
    return import_(pair_table(folder, base), folder / "out")


def _lora(folder: Path, base: Base, shapes: dict[str, tuple[int, ...]]) -> Path:
    from safetensors.torch import save_file

    path = folder / "lora.safetensors"
    save_file({name: torch.zeros(shape) for name, shape in shapes.items()}, str(path))
    return path


def _edit_with_lora(folder: Path, base: Base, lora: Path) -> list[str]:
    image = source_image(folder, base)
    return edit(base, "--image", str(image), "--prompt", "x", "--lora", str(lora), "-o", str(folder / "out" / "o.png"))


@case("edit --lora: a LoRA trained on a base of another size", names=["lora.safetensors", "another base model"])
def _edit_lora_other_size(folder, base):
    # The tiny model's attention is 32 wide; this LoRA was trained on one 48 wide.
    module = "transformer.transformer_blocks.0.attn.to_q"
    lora = _lora(folder, base, {f"{module}.lora_A.weight": (4, 48), f"{module}.lora_B.weight": (48, 4)})
    return _edit_with_lora(folder, base, lora)


@case("edit --lora: a LoRA trained on another architecture", names=["lora.safetensors", "another base model"])
def _edit_lora_other_modules(folder, base):
    module = "transformer.transformer_blocks.0.img_mlp.net.0.proj"  # Qwen-Image's name, not FLUX's
    lora = _lora(folder, base, {f"{module}.lora_A.weight": (4, 32), f"{module}.lora_B.weight": (128, 4)})
    return _edit_with_lora(folder, base, lora)


@case("edit --lora: a file that is not a LoRA (a model's weights)", names=["not a LoRA"])
def _edit_lora_not_lora(folder, base):
    weights = base.model / "transformer" / "diffusion_pytorch_model.safetensors"
    return _edit_with_lora(folder, base, weights)


@case("edit --lora: a file that is not safetensors", names=["lora.safetensors", "not a readable safetensors"])
def _edit_lora_text(folder, base):
    (folder / "lora.safetensors").write_text("a LoRA, honestly\n")
    return _edit_with_lora(folder, base, folder / "lora.safetensors")


@case("edit: a 1x1 --image", names=["tiny.png", "1x1", "16x16", "--size"])
def _edit_tiny(folder, base):
    Image.new("RGB", (1, 1), (200, 10, 10)).save(folder / "tiny.png")
    return edit(base, "--image", str(folder / "tiny.png"), "--prompt", "x", "-o", str(folder / "out" / "o.png"))


@case("edit: -o is the --image", names=["in.png", "--image itself"], writes=())
def _edit_over_source(folder, base):
    image = source_image(folder, base)
    return edit(base, "--image", str(image), "--prompt", "x", "-o", str(image))


@case("edit: a 100,000-character --prompt", names=["--prompt", "100,009", "2,000"])
def _edit_huge_prompt(folder, base):
    image = source_image(folder, base)
    prompt = "make it blue " * 7693
    return edit(base, "--image", str(image), "--prompt", prompt, "-o", str(folder / "out" / "o.png"))


@case("edit --manifest: --out is the dataset's own images folder", names=["--out", "images", "no input"], writes=())
def _edit_into_dataset(folder, base):
    manifest = dataset(folder, base)
    return edit(base, "--manifest", str(manifest), "--out", str(manifest.parent / "images"))


@case("edit --manifest: --out is the sources' folder (ids other than file names)", names=["--out", "images"], writes=())
def _edit_beside_sources(folder, base):
    manifest = dataset(folder, base)
    records = rows(manifest)
    for record in records:
        record["id"] = f"cat-{record['id']}"  # results would not replace the sources, but sit among them
    write_rows(manifest, records)
    return edit(base, "--manifest", str(manifest), "--out", str(manifest.parent / "images"))


@case("edit --bench: --out is the benchmark folder", names=["--out", "would be the input file"], writes=())
def _edit_into_bench(folder, base):
    bench, _ = bench_copy(folder, base)
    return edit(base, "--bench", "gedit", "--bench-dir", str(bench), "--out", str(bench))


@case("edit --manifest: a link in --out to a file outside it", names=["0000.png", "symbolic link", "outside.png"])
def _edit_through_link(folder, base):
    manifest = dataset(folder, base)
    shutil.copy(manifest.parent / "images" / "0001.png", folder / "outside.png")
    (folder / "out").mkdir()
    (folder / "out" / "0000.png").symlink_to(folder / "outside.png")
    return edit(base, "--manifest", str(manifest), "--out", str(folder / "out"))


@case("edit --manifest: a dangling link in --out", names=["0001.png", "symbolic link", "created.png"])
def _edit_through_dangling_link(folder, base):
    manifest = dataset(folder, base)
    (folder / "out").mkdir()
    (folder / "out" / "0001.png").symlink_to(folder / "created.png")  # writing through it creates this
    return edit(base, "--manifest", str(manifest), "--out", str(folder / "out"))


@case("edit --bench: a folder in --out linked out of it", names=["leads out of --out"])
def _edit_through_linked_folder(folder, base):
    bench, _ = bench_copy(folder, base)
    first = next(p for p in sorted(bench.rglob("*.png")))
    task_folder = first.parent.relative_to(bench)  # fullset/<task>/en
    (folder / "elsewhere").mkdir()
    (folder / "out" / task_folder).parent.mkdir(parents=True)
    (folder / "out" / task_folder).symlink_to(folder / "elsewhere")
    return edit(base, "--bench", "gedit", "--bench-dir", str(bench), "--out", str(folder / "out"))


def plant_link(folder: Path, link: str) -> None:
    """A link at ``folder/link`` (an output file) to ``folder/outside.txt``, a file outside the output."""
    (folder / "outside.txt").write_text("not the command's to change\n")
    (folder / link).parent.mkdir(parents=True, exist_ok=True)
    (folder / link).symlink_to(folder / "outside.txt")


# A link planted where a command writes an output is replaced by the output, never written through.
@case("eval consistency: report.html in --out is a link out of it", exit_codes=(0,), replaces=("out/report.html",))
def _consistency_through_link(folder, base):
    bench, careful = bench_copy(folder, base)
    plant_link(folder, "out/report.html")
    return consistency(bench, careful, folder)


@case("view: index.html in --out is a link out of it", exit_codes=(0,), replaces=("out/index.html",))
def _view_through_link(folder, base):
    bench, careful = bench_copy(folder, base)
    plant_link(folder, "out/index.html")
    return [
        "view",
        "--bench",
        "gedit",
        "--bench-dir",
        str(bench),
        "--results",
        str(careful),
        "--out",
        str(folder / "out"),
    ]


@case(
    "stats: stats.json beside the manifest is a link out of the dataset",
    exit_codes=(0,),
    writes=("ds/stats",),
    replaces=("ds/stats.json",),
)
def _stats_through_link(folder, base):
    manifest = dataset(folder, base)
    plant_link(folder, "ds/stats.json")
    return ["data", "stats", str(manifest)]


@case("report: --out is a link out of its folder", exit_codes=(0,), replaces=("out/report.html",))
def _report_through_link(folder, base):
    run = run_folder(folder, [METRIC % 1, METRIC % 2])
    plant_link(folder, "out/report.html")
    return ["report", str(run), "--out", str(folder / "out" / "report.html")]


def _manifest_with_source(make: Callable[[Path, Path], None]):
    def build(folder: Path, base: Base) -> list[str]:
        manifest = replace_file(folder, base, "source", make)
        return edit(base, "--manifest", str(manifest), "--out", str(folder / "out"))

    return build


# Refused before the model loads, exit 2 (docs/data.md): every unreadable source named.
case("edit --manifest: an unreadable source", names=["[0000]", "not a readable image"], exit_codes=(2,))(
    _manifest_with_source(_text_file)
)
case("edit --manifest: a truncated source", names=["[0000]", "truncated"], exit_codes=(2,))(
    _manifest_with_source(_truncated)
)
case("edit --manifest: a 1x1 source", names=["[0000]", "1x1", "16x16"], exit_codes=(2,))(
    _manifest_with_source(lambda path, original: Image.new("RGB", (1, 1)).save(path))
)


@case("rate serve: the port is in use", names=["port", "in use", "--port"], writes=())
def _rate_port_in_use(folder, base):
    bench, careful = bench_copy(folder, base)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    OPEN_SOCKETS.append(holder)
    port = str(holder.getsockname()[1])
    results = ["--results", str(careful), "--results", str(base.bench / "drifting")]
    db = ["--db", str(folder / "ratings.sqlite")]
    return ["rate", "serve", "--bench", "gedit", "--bench-dir", str(bench), *results, *db, "--port", port]


# ----------------------------------------------------------------------------- the test


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (symlinks by their target's bytes), by relative path."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "dangling link"
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus-base")
    model = save_tiny_pipeline("kontext", root / "model")
    ds = make_sample_manifest(root / "dataset", samples=3, size=(SIZE, SIZE)).parent
    make_sample_benchmark(root / "gedit", "gedit", per_category=1, size=(SIZE, SIZE))
    make_sample_benchmark(root / "imgedit", "imgedit", per_category=1, size=(SIZE, SIZE))

    def vie_score(body, index):  # a VIEScore answer: two numbers for SC, two for PQ
        return ScriptedReply(text='{"reasoning": "fine", "score": [7, 8]}')

    with ScriptedJudgeServer(vie_score, model="judge") as server:
        yield Base(model, ds, root / "gedit", root / "imgedit", server.base_url, server.model)


def test_the_corpus_has_over_a_hundred_inputs():
    assert len(CASES) >= 200, len(CASES)
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_broken_input_gets_a_named_error_and_changes_nothing(case, base, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded for a broken input")

    monkeypatch.setattr(cocoedit.models.registry, "load_backbone", refuse)
    folder = tmp_path / "case"
    folder.mkdir()
    args = case.build(folder, base)
    before = snapshot(tmp_path)
    if case.patch is not None:
        case.patch(monkeypatch)
    try:
        result = runner.invoke(app, args)
    finally:
        while OPEN_SOCKETS:
            OPEN_SOCKETS.pop().close()
    output = " ".join(result.output.split())

    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case.name}: raised {result.exception!r}\n{result.output}"
    )
    assert "Traceback" not in result.output, result.output
    assert sum(line.startswith("error:") for line in result.output.splitlines()) <= 1, result.output
    assert result.exit_code in case.exit_codes, f"{case.name}: exit {result.exit_code}\n{result.output}"
    for name in case.names:  # "a|b": either spelling
        assert any(n in output for n in name.split("|")), f"{case.name}: {name!r} not named in\n{result.output}"

    after = snapshot(tmp_path)
    for link in case.replaces:  # written as a regular file in its place, the file it led to untouched
        path = folder / link
        assert path.is_file() and not path.is_symlink(), f"{case.name}: {link} is not a regular file now"
        before.pop(f"case/{link}")
    changed = [p for p, digest in before.items() if after.get(p) != digest]
    assert not changed, f"{case.name}: input files changed or vanished: {changed}"
    allowed = tuple(f"case/{w}" for w in case.writes)
    written = [p for p in after if p not in before and not p.startswith(allowed)]
    assert not written, f"{case.name}: wrote outside {case.writes}: {written}"
