"""Tiny random-weight perceptual models saved as a user would give them to ``eval consistency``."""

from __future__ import annotations

from pathlib import Path

import torch

from cocoedit.eval.perceptual import LPIPS_CHANNELS, VGG16Features


def save_tiny_perceptual_models(root: str | Path) -> Path:
    """Write ``vgg16.pth`` (torchvision keys), ``lpips_vgg.pth`` (lpips head keys) and tiny DINOv2
    (``dino/``) and CLIP vision (``clip/``) models with ``save_pretrained`` into ``root``."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, Dinov2Config, Dinov2Model

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    vgg = VGG16Features()
    torch.save({**vgg.state_dict(), "classifier.0.weight": torch.zeros(2, 2)}, root / "vgg16.pth")
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(LPIPS_CHANNELS)}
    torch.save(heads, root / "lpips_vgg.pth")
    Dinov2Model(
        Dinov2Config(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            patch_size=8,
            image_size=32,
        )
    ).save_pretrained(root / "dino")
    CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            patch_size=8,
            image_size=32,
            projection_dim=16,
        )
    ).save_pretrained(root / "clip")
    return root
