"""`cocoedit edit` refuses an output path it could not write, an empty instruction, an unknown
device, an oversized working size and a LoRA path without weights by name, before the model loads
(not after the edit)."""

import os

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.testing.tiny import save_tiny_pipeline

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def hollow(tmp_path_factory):
    """A Kontext pipeline folder with its configs but no weights: it fails only when loaded, so an
    error that is not the load's proves its check ran first."""
    root = tmp_path_factory.mktemp("edit-refusals")
    model = save_tiny_pipeline("kontext", root / "kontext")
    hollow = root / "hollow"
    (hollow / "vae").mkdir(parents=True)
    for name in ("model_index.json", "vae/config.json"):
        (hollow / name).write_bytes((model / name).read_bytes())
    return hollow


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(path)
    return path


def edit(hollow, source, *args):
    result = CliRunner().invoke(app, ["edit", "--model", str(hollow), "--image", str(source), *map(str, args)])
    assert result.exit_code == 2, result.output
    assert "cannot load" not in result.output and "Traceback" not in result.output
    return " ".join(result.output.split())


def test_the_hollow_model_does_fail_when_loaded(hollow, source, tmp_path):
    result = CliRunner().invoke(
        app, ["edit", "--model", str(hollow), "--image", str(source), "--prompt", "p", "-o", str(tmp_path / "o.png")]
    )
    assert result.exit_code == 2 and "cannot load the kontext pipeline" in result.output


def test_an_output_suffix_pil_cannot_write_is_named_with_the_accepted_ones(hollow, source, tmp_path):
    output = edit(hollow, source, "--prompt", "p", "-o", tmp_path / "out.xyz")
    assert "out.xyz: cannot write an image with the suffix '.xyz'; use one of" in output
    assert ".jpg" in output and ".png" in output and ".webp" in output
    assert "with no suffix" in edit(hollow, source, "--prompt", "p", "-o", tmp_path / "out")
    assert not (tmp_path / "out.xyz").exists()


def test_an_output_that_is_a_folder_or_under_a_file_is_named(hollow, source, tmp_path):
    (tmp_path / "results").mkdir()
    assert "results: is a folder; give an image file name" in edit(
        hollow, source, "--prompt", "p", "-o", tmp_path / "results"
    )
    (tmp_path / "notes.txt").write_text("x")
    output = edit(hollow, source, "--prompt", "p", "-o", tmp_path / "notes.txt" / "out.png")
    assert "notes.txt is a file, not a folder" in output


@pytest.mark.parametrize("prompt", ["", "   ", "\t\n"])
def test_an_empty_instruction_is_refused(hollow, source, tmp_path, prompt):
    assert "--prompt is empty" in edit(hollow, source, "--prompt", prompt, "-o", tmp_path / "o.png")


@pytest.mark.parametrize(
    ("device", "message"),
    [("tpu9", "--device 'tpu9' is not a device"), ("cuda:x", "--device 'cuda:x' is not a device")],
)
def test_an_unknown_device_is_refused(hollow, source, tmp_path, device, message):
    assert message in edit(hollow, source, "--prompt", "p", "-o", tmp_path / "o.png", "--device", device)


def test_a_working_size_above_the_bound_is_refused(hollow, source, tmp_path):
    output = edit(hollow, source, "--prompt", "p", "-o", tmp_path / "o.png", "--size", "100000")
    assert "working size 100000x100000 is above the largest supported side, 4096 pixels" in output


def test_a_lora_path_without_weights_is_named(hollow, source, tmp_path):
    output = edit(hollow, source, "--prompt", "p", "-o", tmp_path / "o.png", "--lora", tmp_path / "none.safetensors")
    assert "none.safetensors: LoRA file or folder not found" in output
    (tmp_path / "lora").mkdir()
    output = edit(hollow, source, "--prompt", "p", "-o", tmp_path / "o.png", "--lora", tmp_path / "lora")
    assert "lora: no pytorch_lora_weights.safetensors in this folder" in output


def test_a_source_too_large_for_the_working_size_is_named_before_loading(hollow, tmp_path):
    # 5000x100 pixels is under the default --max-area, so the working size would keep its 5000 side.
    wide = tmp_path / "wide.png"
    Image.fromarray(np.full((100, 5000, 3), 90, np.uint8)).save(wide)
    result = CliRunner().invoke(
        app, ["edit", "--model", str(hollow), "--image", str(wide), "--prompt", "p", "-o", str(tmp_path / "o.png")]
    )
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "working size would be 100x5000, above the largest supported side, 4096 pixels" in output
    assert "pass --size or a smaller --max-area" in output
