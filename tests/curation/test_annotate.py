"""Mask annotation: differences of real photo pairs with known edits, component boxes, VLM boxes."""

import numpy as np
import pytest
import torch
from PIL import Image

from cocoedit.core.images import load_image
from cocoedit.curation.annotate import (
    boxes_from_reply,
    component_boxes,
    difference_mask,
    expand_boxes,
    fill_component_boxes,
    parse_box_reply,
    union_of_boxes,
)
from cocoedit.judge.parsing import ReplyParseError

from .conftest import H, W, known_edit, make_pairs


def _known_mask(i):
    y0, x0, y1, x1 = known_edit(i)
    m = torch.zeros(1, 1, H, W)
    m[..., y0:y1, x0:x1] = 1
    return m


def test_difference_recovers_known_edits_on_real_photos(tmp_path):
    make_pairs(tmp_path, 6)
    for i in range(6):
        src = load_image(tmp_path / "raw" / f"src_{i}.png")[None]
        tgt = load_image(tmp_path / "raw" / f"tgt_{i}.png")[None]
        assert torch.equal(difference_mask(src, tgt), _known_mask(i)), i


def test_difference_ignores_small_changes_and_aligns_resized_targets(tmp_path):
    make_pairs(tmp_path, 1)
    src = load_image(tmp_path / "raw" / "src_0.png")[None]
    tgt = load_image(tmp_path / "raw" / "tgt_0.png")[None]
    tgt[..., 90:93, 5:8] = 1 - tgt[..., 90:93, 5:8]  # a 9-pixel speck: below min_component_pixels
    assert torch.equal(difference_mask(src, tgt, min_component_pixels=16), _known_mask(0))
    # a target rendered at twice the size still lines up with its source (edges blur by a pixel)
    big = Image.open(tmp_path / "raw" / "tgt_0.png").resize((2 * W, 2 * H), Image.NEAREST)
    tgt2 = torch.from_numpy(np.asarray(big, np.float32) / 255).permute(2, 0, 1)[None]
    mask = difference_mask(src, tgt2)
    known = _known_mask(0)
    iou = float((mask * known).sum() / ((mask + known) > 0).sum())
    assert iou > 0.9


def test_fill_boxes_turns_each_component_into_its_box():
    m = torch.zeros(1, 1, 12, 12)
    m[0, 0, 1:6, 1:3] = 1  # an L shape
    m[0, 0, 4:6, 1:7] = 1
    m[0, 0, 9, 9] = 1
    [boxes] = component_boxes(m)
    assert boxes.tolist() == [[1, 1, 6, 7], [9, 9, 10, 10]]
    filled = fill_component_boxes(m)
    assert filled[0, 0, 1:6, 1:7].all() and filled.sum() == 5 * 6 + 1


def test_expand_boxes_grows_by_a_fraction_of_the_box_and_clips():
    boxes = torch.tensor([[10, 20, 20, 40], [0, 0, 4, 4]])
    # 10 high, 20 wide, 10%: 1 row and 2 columns per side; the second box is clipped at 0
    assert expand_boxes(boxes, 0.1, (50, 50)).tolist() == [[9, 18, 21, 42], [0, 0, 5, 5]]
    assert expand_boxes(boxes, 1.0, (25, 50)).tolist() == [[0, 0, 25, 50], [0, 0, 8, 8]]


def test_box_reply_parsing_is_strict():
    assert parse_box_reply('{"boxes": [[100, 200, 300, 400]]}', 8, "norm1000") == [(100, 200, 300, 400)]
    assert parse_box_reply('```json\n{"boxes": []}\n```', 8, "norm1000") == []
    bad = {
        '{"boxes": [[100, 200, 300]]}': "expected \\[x0, y0, x1, y1\\]",
        '{"boxes": [[300, 200, 100, 400]]}': "not 0 <= x0 < x1",
        '{"boxes": [[0, 0, 1001, 10]]}': "not 0 <= x0 < x1 <= 1000",
        '{"boxes": [[0, 0, "5", 10]]}': "non-number",
        '{"boxes": [[0, 0, 5, 10]], "label": "cat"}': "exactly the key 'boxes'",
        "the cat is on the left": "no JSON object",
    }
    for text, message in bad.items():
        with pytest.raises(ReplyParseError, match=message):
            parse_box_reply(text, 8, "norm1000")
    with pytest.raises(ReplyParseError, match="more than the 1 allowed"):
        parse_box_reply('{"boxes": [[0, 0, 5, 5], [5, 5, 9, 9]]}', 1, "norm1000")
    assert parse_box_reply('{"boxes": [[0, 0, 0.5, 1.2]]}', 8, "norm1000") == [(0, 0, 0.5, 1.2)]
    with pytest.raises(ReplyParseError, match="<= 1"):
        parse_box_reply('{"boxes": [[0, 0, 0.5, 1.2]]}', 8, "norm1")


def test_boxes_from_reply_cover_partly_covered_pixels():
    # 100 x 125 image: norm1000 x maps to x * 0.125 pixels, y to y * 0.1
    assert boxes_from_reply([(240, 100, 560, 400)], "norm1000", (100, 125)).tolist() == [[10, 30, 40, 70]]
    assert boxes_from_reply([(0.1, 0.55, 0.5, 0.951)], "norm1", (100, 125)).tolist() == [[55, 12, 96, 63]]
    mask = union_of_boxes(torch.tensor([[10, 30, 40, 70], [0, 0, 2, 2]]), (100, 125))
    assert mask.shape == (1, 1, 100, 125) and mask.sum() == 30 * 40 + 4
    assert union_of_boxes(torch.zeros(0, 4, dtype=torch.int64), (4, 4)).sum() == 0
