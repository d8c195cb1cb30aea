"""Named LoRA adapters: switching, disabling, copying, and diffusers-format save/load."""

import pytest
import torch

from cocoedit.models.generate import edit_images
from cocoedit.models.lora import (
    LoraError,
    adapter_names,
    adapter_parameters,
    adapters_disabled,
    add_lora,
    copy_adapter,
    load_lora,
    save_lora,
    use_adapter,
)
from cocoedit.models.registry import wrap_pipeline
from cocoedit.testing.stock import TINY_OPTIONS, stock_edit
from cocoedit.testing.tiny import build_tiny_pipeline

SIZE = 64
# FLUX.2 [dev] shares [klein]'s transformer class and targets: slow for the suite's time.
KINDS = (
    "kontext",
    "qwen-image-edit-plus",
    "flux2-klein",
    pytest.param("flux2", marks=pytest.mark.slow),
    "qwen-image-2.1",
)
# Kontext's and FLUX.2 [dev]'s distilled guidance embeddings; no true CFG for the others.
GUIDANCE = {"kontext": 2.5, "flux2": 4.0}


def fresh(kind):
    pipe = build_tiny_pipeline(kind)
    pipe.set_progress_bar_config(disable=True)
    return wrap_pipeline(pipe, **TINY_OPTIONS.get(kind, {}))


def randomise(params, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in params:
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def velocity(bb, cond, x):
    with torch.no_grad():
        return bb.predict_velocity(x, 0.7, cond)


@pytest.fixture(scope="module", params=KINDS)
def trained(request, tmp_path_factory):
    """A backbone with adapters 'current' and 'old' (random weights) and 'current' saved."""
    bb = fresh(request.param)
    add_lora(bb, "current", rank=4, alpha=8)
    add_lora(bb, "old", rank=4, alpha=8)
    randomise(adapter_parameters(bb, "current"), 1)
    randomise(adapter_parameters(bb, "old"), 2)
    out = tmp_path_factory.mktemp("lora")
    save_lora(bb, "current", out)
    return request.param, bb, out


def test_adapters_switch_disable_and_copy(trained, astronaut_small):
    kind, bb, _ = trained
    cond = bb.encode_condition("make the sky blue", astronaut_small, SIZE, SIZE)
    x = bb.initial_noise(1, SIZE, SIZE, torch.Generator().manual_seed(0))
    base_bb = fresh(kind)
    v_base = velocity(base_bb, base_bb.encode_condition("make the sky blue", astronaut_small, SIZE, SIZE), x)
    with use_adapter(bb, "current"):
        v_cur = velocity(bb, cond, x)
    with use_adapter(bb, "old"):
        v_old = velocity(bb, cond, x)
    with adapters_disabled(bb):
        v_ref = velocity(bb, cond, x)
    assert torch.allclose(v_ref, v_base, atol=1e-6)  # reference = the base model
    assert (v_cur - v_ref).abs().max() > 1e-3 and (v_old - v_cur).abs().max() > 1e-3
    # Targets come from the backbone: every module name in its list got an adapter in every block.
    adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in bb.transformer.named_modules() if n.endswith(".lora_A")}
    blocks = {n.rsplit(".attn", 1)[0] for n, _ in bb.transformer.named_modules() if n.endswith(".attn")}
    for target in bb.lora_target_modules:
        matching = {n.rsplit(".attn", 1)[0] for n in adapted if n.endswith("." + target)}
        assert matching, target
    assert blocks == {n.rsplit(".attn", 1)[0] for n in adapted}
    # Copy into a scratch adapter: it then predicts exactly what the source does.
    add_lora(bb, "scratch", rank=4, alpha=8)
    copy_adapter(bb, "current", "scratch")
    with use_adapter(bb, "scratch"):
        assert torch.equal(velocity(bb, cond, x), v_cur)
    bb.transformer.delete_adapters("scratch")
    with pytest.raises(LoraError, match="already exists"):
        add_lora(bb, "current")
    with pytest.raises(LoraError, match="no adapter named 'nope'"):
        copy_adapter(bb, "current", "nope")


def test_use_adapter_keeps_trainable_flags(trained):
    _, bb, _ = trained
    before = [p.requires_grad for p in bb.transformer.parameters()]
    with use_adapter(bb, "old"):
        pass
    assert [p.requires_grad for p in bb.transformer.parameters()] == before
    assert all(p.requires_grad for p in adapter_parameters(bb, "current"))


def test_new_gaussian_adapter_starts_as_identity(astronaut_small):
    bb = fresh("kontext")
    cond = bb.encode_condition("make the sky blue", astronaut_small, SIZE, SIZE)
    x = bb.initial_noise(1, SIZE, SIZE, torch.Generator().manual_seed(0))
    before = velocity(bb, cond, x)
    params = add_lora(bb, "default", rank=2, alpha=4)
    assert params and all(p.requires_grad for p in params)
    assert not any(p.requires_grad for n, p in bb.transformer.named_parameters() if "lora_" not in n)
    assert torch.equal(velocity(bb, cond, x), before)


def test_saved_lora_loads_into_the_stock_pipeline(trained, astronaut_small, small_qwen_constants):
    small_qwen_constants(SIZE * SIZE, 56 * 56)
    kind, bb, out = trained
    assert (out / "pytorch_lora_weights.safetensors").is_file()
    with use_adapter(bb, "current"):
        ours = edit_images(
            bb,
            "make the sky blue",
            astronaut_small,
            SIZE,
            SIZE,
            2,
            guidance=GUIDANCE.get(kind, 1.0),
            generator=torch.Generator().manual_seed(3),
        )
    stock = build_tiny_pipeline(kind)
    stock.set_progress_bar_config(disable=True)
    stock.load_lora_weights(str(out))  # no conversion, no adapter name
    expected = stock_edit(
        stock,
        kind,
        astronaut_small,
        "make the sky blue",
        steps=2,
        guidance=GUIDANCE.get(kind, 1.0),
        seed=3,
        height=SIZE,
        width=SIZE,
    )
    assert (ours - expected).abs().max().item() <= 1e-4
    # And back into a backbone, with a scale: 0 is the base model, 1 the adapter.
    reloaded = fresh(kind)
    load_lora(reloaded, out, "rl", scale=1.0)
    assert adapter_names(reloaded) == ["rl"]
    again = edit_images(
        reloaded,
        "make the sky blue",
        astronaut_small,
        SIZE,
        SIZE,
        2,
        guidance=GUIDANCE.get(kind, 1.0),
        generator=torch.Generator().manual_seed(3),
    )
    assert (again - ours).abs().max().item() <= 1e-5


def test_load_lora_errors(tmp_path):
    bb = fresh("kontext")
    with pytest.raises(LoraError, match="not found"):
        load_lora(bb, tmp_path / "missing", "rl")
    with pytest.raises(LoraError, match="no pytorch_lora_weights.safetensors"):
        load_lora(bb, tmp_path, "rl")
