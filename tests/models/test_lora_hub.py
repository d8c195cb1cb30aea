"""``--lora`` takes a hub id the way ``--model`` does: through the Hugging Face cache (offline here),
with the same messages for an uncached id or a mistyped local path, and the same edit as the
LoRA's local folder."""

import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.images import load_image
from cocoedit.models.condition import BackboneError
from cocoedit.models.lora import LORA_WEIGHTS_FILE, LoraError, adapter_parameters, add_lora, resolve_lora, save_lora
from cocoedit.models.registry import detect_kind, wrap_pipeline
from cocoedit.testing.tiny import build_tiny_pipeline, save_tiny_pipeline

REVISION = "89abcdef0123456789abcdef0123456789abcdef"


def cache_repo(cache: Path, repo: str, files: dict[str, Path | bytes]) -> Path:
    """Put ``files`` into a Hugging Face hub cache as repository ``repo`` at ``main``; returns the snapshot."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    for name, content in files.items():
        if isinstance(content, Path):
            shutil.copy(content, snapshot / name)
        else:
            (snapshot / name).write_bytes(content)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(REVISION)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def test_a_cached_hub_id_resolves_to_its_weights_file(hub_cache):
    snapshot = cache_repo(hub_cache, "lab/edit-lora", {LORA_WEIGHTS_FILE: b"weights", "README.md": b"# a LoRA"})
    assert resolve_lora("lab/edit-lora").resolve() == (snapshot / LORA_WEIGHTS_FILE).resolve()


def test_an_uncached_hub_id_gets_the_same_message_as_for_a_model(hub_cache):
    with pytest.raises(BackboneError) as model_error:
        detect_kind("lab/not-cached")
    with pytest.raises(LoraError) as lora_error:
        resolve_lora("lab/not-cached")
    assert str(lora_error.value) == str(model_error.value)
    assert str(lora_error.value).startswith("lab/not-cached: not in the local Hugging Face cache")


def test_local_paths_and_typos_are_named_as_paths(hub_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(LoraError, match="runs/lora: LoRA file or folder not found"):
        resolve_lora("runs/lora")  # a typo under an existing folder is not taken for a hub id
    with pytest.raises(LoraError, match="adapter.safetensors: LoRA file or folder not found"):
        resolve_lora("adapter.safetensors")
    with pytest.raises(LoraError, match="no pytorch_lora_weights.safetensors in this folder"):
        resolve_lora("runs")


@pytest.mark.slow
def test_edit_with_a_hub_lora_equals_edit_with_its_folder(hub_cache, tmp_path):
    model = save_tiny_pipeline("kontext", tmp_path / "model")
    backbone = wrap_pipeline(build_tiny_pipeline("kontext"), max_sequence_length=48)
    add_lora(backbone, "trained", rank=4, alpha=8)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in adapter_parameters(backbone, "trained"):
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    weights = save_lora(backbone, "trained", tmp_path / "lora")
    cache_repo(hub_cache, "lab/edit-lora", {LORA_WEIGHTS_FILE: weights})
    Image.new("RGB", (64, 64), (120, 40, 200)).save(tmp_path / "in.png")

    def edit(out, *lora):
        args = ["edit", "--model", str(model), "--image", str(tmp_path / "in.png"), "--prompt", "make it red"]
        result = CliRunner().invoke(app, [*args, "-o", str(out), "--size", "64", "--steps", "2", *lora])
        assert result.exit_code == 0, result.output
        return load_image(out)

    by_hub = edit(tmp_path / "hub.png", "--lora", "lab/edit-lora")
    by_folder = edit(tmp_path / "folder.png", "--lora", str(tmp_path / "lora"))
    without = edit(tmp_path / "base.png")
    assert torch.equal(by_hub, by_folder)
    assert (by_hub - without).abs().max() > 0  # the LoRA was applied
