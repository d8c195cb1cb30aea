"""Curation templates: strict parsers, versions, image roles."""

import pytest

from cocoedit.curation.prompts import (
    REFINE_MAX_WORDS,
    filter_template,
    grounding_template,
    parse_refined_instruction,
    refine_template,
)
from cocoedit.judge.parsing import ReplyParseError


def test_grounding_template_images_and_parse():
    pair, single = grounding_template(True, "norm1000"), grounding_template(False, "norm1")
    assert pair.images == ("source", "edited") and single.images == ("source",)
    assert pair.ident == "curation-grounding-pair-norm1000@1"
    assert "0-1000" in pair.text and "fractions 0-1" in single.text
    assert pair.parse('{"boxes": [[1, 2, 30, 40], [5, 5, 9, 9]]}', None) == {"boxes": 2.0}
    with pytest.raises(ReplyParseError):
        single.parse('{"boxes": [[1, 2, 30, 40]]}', None)  # outside 0-1
    assert "make it red" in pair.render("make it red")


def test_refined_instruction_parsing():
    assert (
        parse_refined_instruction('{"instruction": " make the red cup on the left blue "}')
        == "make the red cup on the left blue"
    )
    for reply, message in {
        '{"instruction": ""}': "non-empty",
        '{"instruction": "a\\nb"}': "several lines",
        '{"rewrite": "x"}': "exactly the key 'instruction'",
        '{"instruction": "' + "word " * (REFINE_MAX_WORDS + 1) + '"}': "more than",
        "Sure! Make the cup blue.": "no JSON object",
    }.items():
        with pytest.raises(ReplyParseError, match=message):
            parse_refined_instruction(reply)
    assert refine_template().parse('{"instruction": "make the cup blue"}', None) == {"words": 4.0}


def test_filter_scores_parse_and_range():
    t = filter_template()
    assert t.images == ("source", "mask_overlay")
    scores = t.parse("Instruction clarity: 4\nMask accuracy: 2\nTarget prominence: 5", None)
    assert scores == {"clarity": 4.0, "mask_accuracy": 2.0, "prominence": 5.0, "min": 2.0}
    with pytest.raises(ReplyParseError, match="outside 1-5"):
        t.parse("Instruction clarity: 0\nMask accuracy: 2\nTarget prominence: 5", None)
    with pytest.raises(ReplyParseError, match="missing"):
        t.parse("Instruction clarity: 4\nMask accuracy: 2", None)
