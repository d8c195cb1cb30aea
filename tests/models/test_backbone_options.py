"""`model.backbone_options` keys a backbone's constructor does not take are refused by name, with
the accepted keys, before any weights are read; working sizes have an upper bound."""

import json

import pytest

from cocoedit.models.backbone import MAX_WORKING_SIDE
from cocoedit.models.condition import BackboneError
from cocoedit.models.registry import backbone_class, check_working_size, load_backbone


@pytest.mark.parametrize(
    ("kind", "accepted"),
    [
        ("kontext", "max_sequence_length"),
        ("qwen-image-edit-plus", "condition_area"),
        ("qwen-image-edit", "none"),
        ("flux2-klein", "max_sequence_length, text_encoder_on_cpu"),
        ("flux2", "max_sequence_length, text_encoder_on_cpu"),
        ("qwen-image-2.1", "none"),
    ],
)
def test_unknown_option_names_the_key_and_the_accepted_ones(kind, accepted):
    with pytest.raises(BackboneError, match=rf"{kind}: unknown backbone option 'foo' \(accepted: {accepted}\)"):
        backbone_class(kind).check_options({"foo": 1})


def test_known_options_pass():
    backbone_class("kontext").check_options({"max_sequence_length": 48})
    backbone_class("qwen-image-edit-plus").check_options({"condition_area": 4096})
    backbone_class("flux2").check_options({"text_encoder_on_cpu": True})
    with pytest.raises(BackboneError, match="'text_encoder_on_cpu' must be true or false"):
        backbone_class("flux2").check_options({"text_encoder_on_cpu": "yes"})


def test_loading_refuses_the_option_before_reading_weights(tmp_path):
    # No weights at all: reaching the load would fail with "cannot load".
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "FluxKontextPipeline"}))
    with pytest.raises(BackboneError, match="unknown backbone option 'max_seq_len'"):
        load_backbone(tmp_path, max_seq_len=48)


def test_working_size_bound_is_checked_without_the_vae_config(tmp_path):
    check_working_size(tmp_path, "kontext", MAX_WORKING_SIDE, 512)  # no vae/config.json: only the bound
    with pytest.raises(
        BackboneError,
        match=rf"working size 512x{MAX_WORKING_SIDE + 16} is above the largest "
        rf"supported side, {MAX_WORKING_SIDE} pixels",
    ):
        check_working_size(tmp_path, "kontext", 512, MAX_WORKING_SIDE + 16)


@pytest.mark.parametrize(("kind", "multiple"), [("flux2-klein", 16), ("flux2", 16), ("qwen-image-2.1", 32)])
def test_the_size_multiple_comes_from_the_vae_config_before_loading(kind, multiple, tmp_path):
    from cocoedit.testing.tiny import build_tiny_pipeline

    build_tiny_pipeline(kind).vae.save_config(tmp_path / "vae")  # the config alone, no weights
    check_working_size(tmp_path, kind, 4 * multiple, 2 * multiple)
    odd = 5 * multiple // 2
    with pytest.raises(BackboneError, match=rf"{kind}: working size 64x{odd} must be positive multiples of {multiple}"):
        check_working_size(tmp_path, kind, 64, odd)
