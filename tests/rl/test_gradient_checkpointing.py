"""Gradient checkpointing, as both presets train: the update runs with it (the backward recomputes
the forward with the current adapter still active) and gives the gradients it gives without it."""

import pytest
import torch
import torch.utils.checkpoint

from cocoedit.core.masks import latent_grid_mask
from cocoedit.models.lora import adapter_parameters, add_lora, copy_adapter, init_lora_
from cocoedit.rl.advantages import Credit
from cocoedit.rl.config import RegularizerConfig
from cocoedit.rl.step import AdapterPolicies, RolloutBatch, StepSettings, accumulate_gradients
from cocoedit.testing.trainer import tiny_backbone

SIZE = 64


def _gradients(kind: str, checkpointing: bool, monkeypatch) -> tuple[list[torch.Tensor], int]:
    backbone = tiny_backbone(kind)
    current = add_lora(backbone, "default", rank=4, alpha=4, seed=1)
    add_lora(backbone, "old", rank=4, alpha=4, seed=1)
    copy_adapter(backbone, "default", "old")
    init_lora_(backbone, "old", seed=2)  # an old policy that lags the current one, as mid-run
    with torch.no_grad():
        for p in adapter_parameters(backbone, "old"):
            p.add_(0.05)
    for p in adapter_parameters(backbone, "old"):
        p.requires_grad_(False)
    calls = []
    if checkpointing:
        backbone.transformer.enable_gradient_checkpointing()
        original = torch.utils.checkpoint.checkpoint
        monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", lambda *a, **k: calls.append(1) or original(*a, **k))
    gen = torch.Generator().manual_seed(0)
    sources = torch.rand(2, 3, SIZE, SIZE, generator=gen)
    conds = [backbone.encode_condition(["make it red"], sources[i : i + 1], SIZE, SIZE) for i in range(2)]
    edit = torch.zeros(2, 1, SIZE, SIZE)
    edit[:, :, 16:48, 16:48] = 1
    clean = torch.randn(2, backbone.num_tokens(SIZE, SIZE), conds[0].source_latents.shape[-1], generator=gen)
    batch = RolloutBatch(
        clean=clean,
        conditions=conds,
        credit=Credit.single(torch.tensor([0.8, 0.3]), torch.tensor([True, True])),
        edit_masks=latent_grid_mask(edit, backbone.latent_grid(SIZE, SIZE)),
        seeds=[11, 12],
    )
    settings = StepSettings(
        timesteps=backbone.sigma_schedule(3, SIZE, SIZE)[:-1],
        num_timesteps=2,
        micro_batch_size=2,
        beta=1.0,
        adv_clip_max=5.0,
        kl_weight=1e-4,
        regularizer=RegularizerConfig(erode_radius=0),
    )
    accumulate_gradients(
        batch,
        AdapterPolicies(backbone, "default", "old"),
        settings,
        unpack=lambda z: backbone.unpack(z, SIZE, SIZE),
        pack=backbone.pack,
    )
    # Modules of the last block's text stream feed nothing downstream: no gradient either way.
    return [None if p.grad is None else p.grad.clone() for p in current], len(calls)


@pytest.mark.parametrize(
    "kind",
    [
        "kontext",
        "qwen-image-edit-plus",
        "qwen-image-2.1",
        # FLUX.2's blocks are FLUX.1's with fused single-block projections; slow for the suite's time.
        pytest.param("flux2-klein", marks=pytest.mark.slow),
        pytest.param("flux2", marks=pytest.mark.slow),
    ],
)
def test_checkpointed_gradients_equal_plain_ones(kind, monkeypatch):
    plain, _ = _gradients(kind, False, monkeypatch)
    checkpointed, calls = _gradients(kind, True, monkeypatch)
    assert calls > 0  # the transformer's blocks really went through torch.utils.checkpoint
    assert any(g is not None and g.abs().max() > 0 for g in plain)
    for a, b in zip(plain, checkpointed, strict=True):
        assert (a is None) == (b is None)
        assert a is None or torch.allclose(a, b, rtol=1e-5, atol=1e-8), (a - b).abs().max()
