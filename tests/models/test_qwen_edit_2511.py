"""Qwen-Image-Edit-2511 through the Plus backbone: its transformer's ``zero_cond_t`` (source tokens
modulated at timestep 0) is honoured with the inputs the backbone already passes, so edits equal
the stock pipeline's and differ from 2509's conventions with the same weights."""

import pytest
import torch

from cocoedit.models.generate import edit_images
from cocoedit.models.registry import wrap_pipeline
from cocoedit.testing.stock import TINY_OPTIONS, stock_edit
from cocoedit.testing.tiny import build_tiny_qwen_image_edit_plus

SIZE = 64
PROMPT = "make the sky blue"


@pytest.mark.slow  # the Plus pipeline's vision-language encoder makes four edits slow; preset tests cover 2511 too
def test_2511_edits_equal_the_stock_pipeline_and_differ_from_2509(astronaut_small, small_qwen_constants):
    small_qwen_constants(SIZE * SIZE, TINY_OPTIONS["qwen-image-edit-plus"]["condition_area"])
    edits = {}
    for zero_cond_t in (True, False):
        pipe = build_tiny_qwen_image_edit_plus(zero_cond_t=zero_cond_t)
        pipe.set_progress_bar_config(disable=True)
        bb = wrap_pipeline(pipe, **TINY_OPTIONS["qwen-image-edit-plus"])
        assert bb.kind == "qwen-image-edit-plus"
        ours = edit_images(bb, PROMPT, astronaut_small, SIZE, SIZE, 2, generator=torch.Generator().manual_seed(2))
        stock = stock_edit(
            pipe,
            "qwen-image-edit-plus",
            astronaut_small,
            PROMPT,
            steps=2,
            guidance=1.0,
            seed=2,
            height=SIZE,
            width=SIZE,
        )
        assert (ours - stock).abs().max().item() <= 1e-4
        edits[zero_cond_t] = ours
    assert (edits[True] - edits[False]).abs().max().item() > 1e-4  # same weights: the flag alone
