"""LoRA files and LoRA targets are checked against the model from safetensors headers alone,
before any weights load: a LoRA trained on another base (other sizes, other modules), a file that
is not a LoRA and a target that names no layer are one-line errors; what the headers cannot catch
is still one line when the stock loader fails."""

import pytest
import torch
from safetensors.torch import save_file

from cocoedit.models.lora import LoraError, add_lora, load_lora, save_lora
from cocoedit.models.lora_checks import check_lora_fits, check_lora_targets, transformer_shapes
from cocoedit.models.registry import load_backbone
from cocoedit.testing.tiny import save_tiny_pipeline

Q = "transformer.transformer_blocks.0.attn.to_q"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_pipeline("kontext", tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def own_lora(model, tmp_path_factory):
    """A LoRA trained (well, made) on this very model, saved as training saves it."""
    backbone = load_backbone(model)
    add_lora(backbone, "a", rank=4, alpha=4, seed=0)
    return save_lora(backbone, "a", tmp_path_factory.mktemp("lora"))


def lora(path, shapes):
    save_file({name: torch.zeros(shape) for name, shape in shapes.items()}, str(path))
    return path


def test_the_headers_give_the_transformers_weights_without_loading_them(model):
    shapes = transformer_shapes(model)
    assert shapes["transformer_blocks.0.attn.to_q.weight"] == [32, 32]
    assert transformer_shapes(model.parent / "nothing") is None


def test_a_lora_of_this_model_fits(model, own_lora):
    check_lora_fits(own_lora, model)
    check_lora_fits(own_lora.parent, model)  # the folder form


def test_a_lora_of_another_size_is_named_with_both_sizes(model, tmp_path):
    path = lora(tmp_path / "wide.safetensors", {f"{Q}.lora_A.weight": (4, 48), f"{Q}.lora_B.weight": (48, 4)})
    with pytest.raises(
        LoraError, match=r"wide.safetensors: module transformer_blocks.0.attn.to_q is 32x32 .* but 48x48"
    ):
        check_lora_fits(path, model)


def test_a_lora_of_another_architecture_names_a_missing_module(model, tmp_path):
    module = "transformer.transformer_blocks.0.img_mlp.net.0.proj"
    path = lora(tmp_path / "qwen.safetensors", {f"{module}.lora_A.weight": (4, 32), f"{module}.lora_B.weight": (8, 4)})
    with pytest.raises(LoraError, match=r"1 of the 1 modules .* \(first: transformer_blocks.0.img_mlp.net.0.proj\)"):
        check_lora_fits(path, model)


def test_a_file_that_is_not_a_lora_is_named(model, tmp_path):
    with pytest.raises(LoraError, match=r"not a LoRA: it holds no lora_A/lora_B"):
        check_lora_fits(model / "transformer" / "diffusion_pytorch_model.safetensors", model)
    (tmp_path / "notes.safetensors").write_text("hello")
    with pytest.raises(LoraError, match=r"notes.safetensors: --lora is not a readable safetensors file"):
        check_lora_fits(tmp_path / "notes.safetensors", model)


def test_a_wrong_lora_that_gets_past_the_check_is_still_one_line_at_load(model, tmp_path):
    path = lora(tmp_path / "wide.safetensors", {f"{Q}.lora_A.weight": (4, 48), f"{Q}.lora_B.weight": (48, 4)})
    backbone = load_backbone(model)
    with pytest.raises(LoraError) as raised:
        load_lora(backbone, path, "edit")
    message = str(raised.value)
    assert "wide.safetensors: cannot load this LoRA into the kontext model" in message and "\n" not in message


@pytest.mark.parametrize(
    "targets, named",
    [
        (["to_qq"], r"'to_qq' names no module .*did you mean 'to_q'"),
        (["attn.to_q", "nope"], r"'nope' names no module"),
        (["norm_q"], r"'norm_q' matches only layers LoRA cannot adapt"),
    ],
)
def test_a_target_that_names_no_layer_is_refused(model, targets, named):
    with pytest.raises(LoraError, match=named):
        check_lora_targets(targets, model)


def test_targets_as_peft_matches_them_pass(model):
    check_lora_targets(["to_q", "attn.to_k", "transformer_blocks.0.attn.to_v", "proj_out"], model)
