"""Which editor a model is: local folders, hub ids through the Hugging Face cache (offline here),
and errors that say what is wrong with the name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cocoedit.models.condition import BackboneError
from cocoedit.models.registry import backbones, detect_kind
from cocoedit.testing.tiny import save_tiny_pipeline

REVISION = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(root: Path, repo: str, make) -> Path:
    """A Hugging Face hub cache holding ``repo`` at ``main`` (the layout huggingface_hub reads)."""
    folder = root / f"models--{repo.replace('/', '--')}"
    make(folder / "snapshots" / REVISION)
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(REVISION)
    return root


def test_builtin_and_plugin_backbones_are_known():
    assert {"kontext", "qwen-image-edit", "qwen-image-edit-plus", "pixel-kontext"} <= set(backbones())


def test_local_names_get_errors_that_name_the_problem(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "empty").mkdir()
    with pytest.raises(BackboneError, match="models/empty: this folder is not a diffusers pipeline"):
        detect_kind("models/empty")
    with pytest.raises(BackboneError, match="models/tiny-kontxt: no such folder"):
        detect_kind("models/tiny-kontxt")  # a typo under an existing folder is not taken for a hub id
    with pytest.raises(BackboneError, match="no such folder"):
        detect_kind(str(tmp_path / "nothing" / "here"))


def test_an_uncached_hub_id_offline_says_how_to_get_it(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(
        BackboneError,
        match=r"Qwen/Qwen-Image-Edit-2509: not in the local Hugging Face cache.*"
        r"\(hf download Qwen/Qwen-Image-Edit-2509\)",
    ):
        detect_kind("Qwen/Qwen-Image-Edit-2509")


@pytest.mark.slow
def test_a_cached_hub_id_is_detected_and_edits_offline(tmp_path):
    cache = hub_cache(tmp_path / "hub", "cocoedit/tiny-kontext", lambda d: save_tiny_pipeline("kontext", d))
    from PIL import Image

    Image.new("RGB", (64, 64), (120, 40, 200)).save(tmp_path / "in.png")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cocoedit",
            "edit",
            "--model",
            "cocoedit/tiny-kontext",
            "--image",
            str(tmp_path / "in.png"),
            "--prompt",
            "make it red",
            "-o",
            str(tmp_path / "out.png"),
            "--size",
            "64",
            "--steps",
            "2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out.png").is_file()
