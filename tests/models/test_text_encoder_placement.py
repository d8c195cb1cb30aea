"""FLUX.2's `text_encoder_on_cpu` option: the text encoder stays on the CPU wherever the backbone
goes (also at load, before any other component moves), its embeddings reach the transformer's
device, and the edits are the ones the backbone makes without the option.

This machine has no second real device: placement is checked by moving the backbone to ``meta``
(a device that holds shapes only), values on the CPU, and both together on a GPU when one is here."""

import pytest
import torch

from cocoedit.models.generate import edit_images
from cocoedit.models.registry import load_backbone
from cocoedit.testing.stock import TINY_OPTIONS
from cocoedit.testing.tiny import save_tiny_pipeline

SIZE = 64
PROMPT = "make the sky blue"


@pytest.fixture(scope="module")
def tiny_dev(tmp_path_factory):
    return save_tiny_pipeline("flux2", tmp_path_factory.mktemp("flux2"))


def load(folder, device=None, **options):
    return load_backbone(folder, device=device, **TINY_OPTIONS["flux2"], **options)


@pytest.mark.parametrize("on_cpu", [False, True])
def test_the_option_keeps_the_text_encoder_on_the_cpu_and_moves_the_embeddings(tiny_dev, astronaut_small, on_cpu):
    bb = load(tiny_dev, device="meta", text_encoder_on_cpu=on_cpu)
    assert bb.transformer.device.type == "meta" and bb.pipeline.vae.device.type == "meta"
    assert bb.pipeline.text_encoder.device.type == ("cpu" if on_cpu else "meta")
    assert bb.device.type == "meta"  # inputs go where the transformer computes
    assert bb.to("meta").pipeline.text_encoder.device.type == ("cpu" if on_cpu else "meta")  # a later move too
    if on_cpu:  # (a text encoder on meta cannot run)
        condition = bb.encode_condition(PROMPT, astronaut_small, SIZE, SIZE)
        assert condition.text["prompt_embeds"].device.type == "meta"


def test_edits_and_embeddings_equal_those_without_the_option(tiny_dev, astronaut_small):
    plain, split = load(tiny_dev, device="cpu"), load(tiny_dev, device="cpu", text_encoder_on_cpu=True)
    for bb in (plain, split):
        bb.pipeline.set_progress_bar_config(disable=True)
    a = plain.encode_condition(PROMPT, astronaut_small, SIZE, SIZE)
    b = split.encode_condition(PROMPT, astronaut_small, SIZE, SIZE)
    assert torch.equal(a.text["prompt_embeds"], b.text["prompt_embeds"])
    images = [
        edit_images(bb, PROMPT, astronaut_small, SIZE, SIZE, 2, generator=torch.Generator().manual_seed(3))
        for bb in (plain, split)
    ]
    assert torch.equal(*images)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_a_gpu_the_text_encoder_computes_on_the_cpu(tiny_dev, astronaut_small):
    plain, split = load(tiny_dev, device="cuda"), load(tiny_dev, device="cuda", text_encoder_on_cpu=True)
    assert split.pipeline.text_encoder.device.type == "cpu" and split.transformer.device.type == "cuda"
    a = plain.encode_condition(PROMPT, astronaut_small, SIZE, SIZE).text["prompt_embeds"]
    b = split.encode_condition(PROMPT, astronaut_small, SIZE, SIZE).text["prompt_embeds"]
    assert b.device.type == "cuda"
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
