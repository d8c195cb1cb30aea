"""The tiny pixel-space editor: lossless latents, save/load, LoRA, and SFT that learns."""

import pytest
import torch
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.data.synthetic import write_synthetic_task
from cocoedit.demo.pixel_editor import build_pixel_editor
from cocoedit.demo.sft import SFTConfig, drift_keep_region, pixel_loss_weights, train_pixel_editor
from cocoedit.models.lora import add_lora, load_lora, save_lora, use_adapter
from cocoedit.models.registry import load_backbone, wrap_pipeline


def test_latents_are_the_pixels():
    backbone = wrap_pipeline(build_pixel_editor())
    x = torch.randint(0, 256, (2, 3, 16, 24)).float() / 255
    latents = backbone.encode_source(x, 16, 24)
    assert latents.shape == (2, 4 * 6, 48)
    assert torch.allclose(backbone.decode(latents, 16, 24), x, atol=1e-6)


def test_save_load_and_lora_round_trip(tmp_path):
    pipe = build_pixel_editor()
    torch.nn.init.normal_(pipe.transformer.proj_out.weight, std=0.1)  # a new editor's output layer is zero
    pipe.save_pretrained(tmp_path / "editor")
    backbone = load_backbone(tmp_path / "editor")
    assert backbone.kind == "pixel-kontext"
    cond = backbone.encode_condition(["make the red circle blue"], torch.rand(1, 3, 16, 16), 16, 16)
    x = torch.randn(1, 16, 48, generator=torch.Generator().manual_seed(0))
    params = add_lora(backbone, "default", 4, 4)
    with torch.no_grad():
        for p in params:
            p.add_(0.1)
    with torch.no_grad(), use_adapter(backbone, "default"):
        trained = backbone.predict_velocity(x, 0.5, cond)
    save_lora(backbone, "default", tmp_path / "lora")
    fresh = load_backbone(tmp_path / "editor")
    load_lora(fresh, tmp_path / "lora", "loaded")
    with torch.no_grad():
        assert torch.allclose(fresh.predict_velocity(x, 0.5, cond), trained, atol=1e-5)
        assert not torch.allclose(load_backbone(tmp_path / "editor").predict_velocity(x, 0.5, cond), trained, atol=1e-3)


def test_drift_moves_only_the_keep_region():
    target = torch.full((2, 3, 8, 8), 0.5)
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., :4, :] = 1
    drifted = drift_keep_region(target, mask, 0.2, torch.Generator().manual_seed(0))
    assert torch.equal(drifted[..., :4, :], target[..., :4, :])
    assert not torch.equal(drifted[..., 4:, :], target[..., 4:, :])
    assert (drifted - target).abs().max() <= 0.2 + 1e-6


@pytest.mark.slow
def test_sft_learns_and_saves_a_loadable_editor(tmp_path):
    manifest = write_synthetic_task(tmp_path / "task", {"train": 12}, size=16)["train"]
    config = SFTConfig(size=16, steps=80, batch_size=8, lr=2e-3, heads=2, head_dim=8, layers=1, single_layers=1)
    losses = train_pixel_editor(manifest, tmp_path / "editor", config)
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10
    assert load_backbone(tmp_path / "editor").kind == "pixel-kontext"
    result = CliRunner().invoke(
        app,
        [
            "sft",
            "--manifest",
            str(manifest),
            "--out",
            str(tmp_path / "cli"),
            "--size",
            "16",
            "--steps",
            "3",
            "--batch-size",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "editor:" in result.stdout and (tmp_path / "cli" / "sft_config.json").is_file()


def test_sft_loss_weights_fall_on_the_edit_pixels():
    backbone = wrap_pipeline(build_pixel_editor())
    mask = torch.zeros(1, 1, 8, 8)
    mask[0, 0, 5, 2] = 1
    weights = pixel_loss_weights(mask, 4.0, backbone.pack)
    assert weights.shape == (1, 4, 48)
    assert (weights == 4.0).sum() == 3  # the pixel's three channels
    assert (weights == 1.0).sum() == weights.numel() - 3
    # The weights sit where the pixel sits after the same lossless rearrangement as the image.
    image = torch.zeros(1, 3, 8, 8)
    image[0, :, 5, 2] = 1.0
    assert torch.equal(backbone.encode_source(image, 8, 8) > 0, weights > 1)
