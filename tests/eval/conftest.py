"""Fixtures of the evaluation tests: tiny random-weight perceptual models saved as a user would give them."""

import pytest
import torch

from cocoedit.eval.perceptual import LPIPS_CHANNELS, VGG16Features


@pytest.fixture(scope="session")
def perceptual_weights(tmp_path_factory):
    """A folder with ``vgg16.pth`` (torchvision keys), ``lpips_vgg.pth`` (lpips head keys) and tiny
    DINOv2 (``dino/``) and CLIP vision (``clip/``) models written with ``save_pretrained``."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, Dinov2Config, Dinov2Model

    root = tmp_path_factory.mktemp("perceptual")
    torch.manual_seed(0)
    vgg = VGG16Features()
    torch.save({**vgg.state_dict(), "classifier.0.weight": torch.zeros(2, 2)}, root / "vgg16.pth")
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(LPIPS_CHANNELS)}
    torch.save(heads, root / "lpips_vgg.pth")
    Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                             patch_size=8, image_size=32)).save_pretrained(root / "dino")
    CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                   intermediate_size=64, patch_size=8, image_size=32,
                                                   projection_dim=16)).save_pretrained(root / "clip")
    return root


