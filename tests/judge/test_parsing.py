"""Strict judge-reply parsers: exact formats in, scores out, everything else a ReplyParseError."""

import math

import pytest

from cocoedit.judge.parsing import (
    ReplyParseError,
    TokenLogprobs,
    expected_digit_score,
    parse_json_score_list,
    parse_labelled_scores,
    token_at,
)


def test_labelled_scores_in_label_order_with_spans():
    text = "Visual quality: 3\n**Editing effect:** 5"
    scores = parse_labelled_scores(text, ["Editing effect", "Visual quality"], 2, 0, 5)
    assert [s.value for s in scores] == [5, 3]
    assert text[slice(*scores[0].span)] == "5"


@pytest.mark.parametrize(
    "text, message",
    [
        ("Editing effect: 4", "missing score line"),
        ("Editing effect: 7\nVisual quality: 3", "outside 0-5"),
        ("Editing effect: 4.5\nVisual quality: 3", "expected an integer"),
        ("Editing effect: 4\nEditing effect: 2\nVisual quality: 3", "more than once"),
        ("I would give it a four.", "missing score line"),
    ],
)
def test_labelled_scores_refuse_anything_else(text, message):
    with pytest.raises(ReplyParseError, match=message):
        parse_labelled_scores(text, ["Editing effect", "Visual quality"], 2, 0, 5)


def test_unlabelled_scores_need_the_exact_count():
    reply = "Reasoning: fine edit.\nPrompt Compliance: 4\nVisual Seamlessness: 3\nPhysical & Detail Fidelity: 3"
    assert [s.value for s in parse_labelled_scores(reply, None, 3, 1, 5)] == [4, 3, 3]
    with pytest.raises(ReplyParseError, match="expected 3"):
        parse_labelled_scores("A: 4\nB: 3", None, 3, 1, 5)


def test_json_score_list_accepts_fenced_json():
    assert parse_json_score_list('```json\n{"reasoning": "ok", "score": [7, 9]}\n```', 2, 0, 10) == [7.0, 9.0]


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"reasoning": "ok", "score": [7, ', "invalid JSON"),
        ('{"score": [7]}', "has 1 values"),
        ('{"score": [7, 11]}', "outside"),
        ('{"score": ["7", 8]}', "not a number"),
        ('{"score": [true, 8]}', "not a number"),
        ("no json here", "no JSON object"),
    ],
)
def test_json_score_list_failures(text, message):
    with pytest.raises(ReplyParseError, match=message):
        parse_json_score_list(text, 2, 0, 10)


def test_expected_digit_score_is_the_normalised_expectation():
    top = {"4": math.log(0.6), " 4": math.log(0.15), "3": math.log(0.15), "x": math.log(0.1)}
    # digit mass 0.9: 4 with 0.75, 3 with 0.15 -> (4*0.75 + 3*0.15) / 0.9
    assert expected_digit_score(top, 0, 5) == pytest.approx((4 * 0.75 + 3 * 0.15) / 0.9)
    with pytest.raises(ReplyParseError, match="no digit"):
        expected_digit_score({"x": 0.0, "9": -1.0}, 0, 5)


def test_token_at_finds_the_score_token_and_refuses_merged_ones():
    text = "Editing effect: 4"
    tokens = [TokenLogprobs(t, {t: 0.0}) for t in ("Editing", " effect", ":", " ", "4")]
    assert token_at(tokens, (16, 17), text).token == "4"
    merged = [TokenLogprobs(t, {t: 0.0}) for t in ("Editing effect:", " 4")]
    assert token_at(merged, (16, 17), text).token == " 4"  # leading space is fine
    glued = [TokenLogprobs(t, {t: 0.0}) for t in ("Editing effect: 4", "")]
    with pytest.raises(ReplyParseError, match="not a token of its own"):
        token_at(glued, (16, 17), text)
    with pytest.raises(ReplyParseError, match="do not spell"):
        token_at(tokens[:-1], (16, 17), text)
