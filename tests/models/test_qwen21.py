"""Qwen-Image-2.1 specifics: the configured sample sigmas, working sizes the vision-language
processor cannot tokenise to one token per 32x32 pixels (refused from the files before loading,
and by a loaded backbone), the pipeline's 16x VAE assumption, and loading a checkpoint that names
the stock Qwen3-VL processor without torchvision."""

import json

import pytest
import torch

from cocoedit.models.condition import BackboneError
from cocoedit.models.registry import check_working_size, load_backbone, wrap_pipeline
from cocoedit.testing.tiny import build_tiny_pipeline, save_tiny_pipeline

SIZE = 64
PROMPT = "make the sky blue"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_pipeline("qwen-image-2.1", tmp_path_factory.mktemp("q21") / "model")


def test_configured_sample_sigmas_are_used_at_their_length():
    pipe = build_tiny_pipeline("qwen-image-2.1")
    pipe.register_to_config(sample_sigmas=[1.0, 0.9, 0.5])
    bb = wrap_pipeline(pipe)
    shifted = bb.sigma_schedule(3, SIZE, SIZE)
    scheduler = pipe.scheduler
    scheduler.set_timesteps(sigmas=[1.0, 0.9, 0.5], mu=bb.schedule_mu(3, SIZE, SIZE))
    assert shifted.tolist() == pytest.approx(scheduler.sigmas.tolist(), abs=1e-7)
    # Another number of steps falls back to linspace(1, 1/N, N), as without sample_sigmas.
    plain = wrap_pipeline(build_tiny_pipeline("qwen-image-2.1"))
    assert torch.equal(bb.sigma_schedule(4, SIZE, SIZE), plain.sigma_schedule(4, SIZE, SIZE))
    assert not torch.equal(shifted, plain.sigma_schedule(3, SIZE, SIZE))


def test_sizes_the_processor_cannot_tokenise_are_refused_before_loading(folder, astronaut_small, monkeypatch):
    check_working_size(folder, "qwen-image-2.1", 64, 96)  # within the tiny processor's 32²..1024² pixels
    with pytest.raises(BackboneError, match="multiples of 32"):
        check_working_size(folder, "qwen-image-2.1", 48, 64)  # 16x VAE, then 2x2 latents per image token
    with pytest.raises(BackboneError, match=r"working size 1024x1056 \(1081344 pixels\) is outside"):
        check_working_size(folder, "qwen-image-2.1", 1024, 1056)
    bb = load_backbone(folder)
    with pytest.raises(BackboneError, match="is outside the vision-language processor's 1024..1048576 pixels"):
        bb.encode_condition(PROMPT, astronaut_small, 1024, 1056)
    # A processor that tokenises the image to another count than the latents (here: resized to its
    # maximum of 32²) is named, should a size pass the limits and still not fit.
    bb.pipeline.processor.image_processor.size = {"shortest_edge": 32 * 32, "longest_edge": 32 * 32}
    bb.pipeline.processor.image_processor.max_pixels = 32 * 32
    monkeypatch.setattr(bb, "check_resolution", lambda height, width: None)
    with pytest.raises(BackboneError, match="gave 1 image tokens for a 64x64 source, the transformer needs 4"):
        bb.encode_condition(PROMPT, astronaut_small, SIZE, SIZE)


def test_a_vae_other_than_16x_is_refused():
    pipe = build_tiny_pipeline("qwen-image-2.1")
    pipe.vae.register_to_config(scale_factor_spatial=8)
    with pytest.raises(BackboneError, match="the VAE compresses 8x, but QwenImage21Pipeline assumes 16x"):
        wrap_pipeline(pipe)


def test_a_checkpoint_naming_the_stock_qwen3_vl_processor_loads_without_torchvision(folder, tmp_path):
    import shutil

    from diffusers import QwenImage21Pipeline

    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    index = json.loads((copy / "model_index.json").read_text())
    index["processor"] = ["transformers", "Qwen3VLProcessor"]  # as the real checkpoint
    (copy / "model_index.json").write_text(json.dumps(index))
    config = json.loads((copy / "processor" / "processor_config.json").read_text())
    config["processor_class"] = "Qwen3VLProcessor"
    (copy / "processor" / "processor_config.json").write_text(json.dumps(config))
    # The stock class wants its video processor (which needs torchvision; this copy has none at all).
    with pytest.raises(OSError, match="video processor"):
        QwenImage21Pipeline.from_pretrained(copy, local_files_only=True)
    bb = load_backbone(copy)
    assert type(bb.pipeline.processor).__name__ == "Qwen3VLImageOnlyProcessor"
    original = load_backbone(folder)
    a = bb.encode_condition(PROMPT, build_image(), SIZE, SIZE)
    b = original.encode_condition(PROMPT, build_image(), SIZE, SIZE)
    assert all(torch.equal(a.text[k], b.text[k]) for k in a.text)


def build_image():
    from PIL import Image

    return Image.new("RGB", (SIZE, SIZE), (200, 40, 90))
