"""Precision as the presets train: with a bf16 model the LoRA adapters, their gradients and AdamW's
state are float32, and the VAE stays float32 unless configured otherwise."""

import pytest
import torch

from cocoedit.rl.config import load_config
from cocoedit.rl.trainer import CocoEditTrainer
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline
from cocoedit.testing.trainer import tiny_training_config


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dtypes")
    return save_tiny_pipeline("kontext", root / "model"), make_sample_manifest(root / "ds", samples=4, size=(64, 64))


def _config(model, manifest, **model_overrides):
    return load_config(
        None, [], base=tiny_training_config(model, manifest, model={"dtype": "bfloat16", **model_overrides})
    )


@pytest.mark.slow
def test_bf16_model_trains_fp32_adapters_with_fp32_gradients_and_optimizer_state(inputs, tmp_path):
    model, manifest = inputs
    trainer = CocoEditTrainer.from_config(_config(model, manifest), tmp_path / "run")
    backbone = trainer.backbone
    assert backbone.transformer.dtype == torch.bfloat16
    assert backbone.pipeline.vae.dtype == torch.float32  # model.vae_dtype defaults to the reference's float32
    assert all(p.dtype == torch.float32 for p in trainer.current + trainer.old)
    base = [p for n, p in backbone.transformer.named_parameters() if "lora_" not in n]
    assert base and all(p.dtype == torch.bfloat16 for p in base)
    grads = []
    for p in trainer.current:  # the gradient as AdamW sees it, before the step clears it
        p.register_post_accumulate_grad_hook(lambda q: grads.append(q.grad.dtype))
    trainer.train()
    assert grads and set(grads) == {torch.float32}
    state = trainer.optimizer.state_dict()["state"]
    assert state and all(s["exp_avg"].dtype == s["exp_avg_sq"].dtype == torch.float32 for s in state.values())
    assert all(p.dtype == torch.float32 for p in trainer.current)


@pytest.mark.slow
def test_vae_dtype_is_configurable(inputs, tmp_path):
    model, manifest = inputs
    trainer = CocoEditTrainer.from_config(_config(model, manifest, vae_dtype="bfloat16"), tmp_path / "run")
    assert trainer.backbone.pipeline.vae.dtype == torch.bfloat16
