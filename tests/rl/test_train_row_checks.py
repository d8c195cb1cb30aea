"""`cocoedit train` refuses the rows `cocoedit data validate` refuses (empty and full masks, a
grey ramp that is no mask, unreadable files, no rows at all), naming them, before any model loads;
a mask with a few grey pixels (a JPEG) is used, binarised at 0.5, with one warning line."""

import json
import logging

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

import cocoedit.models.registry
from cocoedit.cli import app
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.trainer import tiny_training_config


@pytest.fixture
def no_model_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the rows were checked")

    monkeypatch.setattr(cocoedit.models.registry, "load_backbone", refuse)


def train(tmp_path, manifest):
    # No model folder: the kind is given, and the rows are refused before anything reads the model.
    cfg = tiny_training_config(tmp_path / "no-model", manifest, model={"backbone": "kontext"})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    return CliRunner().invoke(
        app, ["train", "--config", str(tmp_path / "config.yaml"), "--run-dir", str(tmp_path / "run")]
    )


def test_bad_masks_are_named_before_a_model_loads(tmp_path, no_model_loading):
    manifest = make_sample_manifest(tmp_path / "ds", samples=2, size=(64, 64))
    root = manifest.parent
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    masks = {
        "zero": np.zeros((64, 64), np.uint8),
        "one": np.full((64, 64), 255, np.uint8),
        "grey": np.tile(np.linspace(0, 255, 64).astype(np.uint8), (64, 1)),
    }
    for name, mask in masks.items():
        Image.fromarray(mask).save(root / "masks" / f"{name}.png")
    yy, xx = np.mgrid[:64, :64]
    disc = (((yy - 30) ** 2 + (xx - 34) ** 2) < 200).astype(np.uint8) * 255  # a binary mask, saved lossy
    Image.fromarray(disc).save(root / "masks" / "jpeg.jpg", quality=75)
    extra = [{**rows[0], "id": name, "mask": f"masks/{name}.png"} for name in masks]
    extra.append({**rows[0], "id": "jpeg", "mask": "masks/jpeg.jpg"})
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows + extra))
    result = train(tmp_path, manifest)
    out = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "3 of 6 row(s) are bad" in out
    assert "line 3 [zero]: empty_mask" in out and "line 4 [one]: full_mask" in out
    assert "line 5 [grey]: non_binary_mask" in out and "[jpeg]" not in out


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_a_jpeg_mask_is_used_with_one_warning_line(tmp_path):
    from cocoedit.rl.preflight import read_checked_manifest

    manifest = make_sample_manifest(tmp_path / "ds", samples=3, size=(64, 64))
    for name in ("0000.png", "0001.png"):  # two masks saved lossy, as users do
        mask = manifest.parent / "masks" / name
        Image.open(mask).save(mask.with_suffix(".jpg"), quality=75)
        mask.write_bytes(mask.with_suffix(".jpg").read_bytes())
    collect = Collect()
    logging.getLogger("cocoedit.train").addHandler(collect)
    try:
        samples = read_checked_manifest(manifest)
    finally:
        logging.getLogger("cocoedit.train").removeHandler(collect)
    assert len(samples) == 3
    (warning,) = collect.messages
    assert "grey_mask_pixels in 2 row(s)" in warning and "line 1 [0000]" in warning and "0.5" in warning


def test_a_manifest_without_rows_is_refused(tmp_path, no_model_loading):
    (tmp_path / "empty.jsonl").write_text("\n")
    result = train(tmp_path, tmp_path / "empty.jsonl")
    assert result.exit_code == 2 and "empty.jsonl: manifest has no rows" in " ".join(result.output.split())
