"""Prompt templates: our wording, the benchmarks' own files loaded by path, image order, parsers."""

import json
import math

import pytest

from cocoedit.judge.parsing import ReplyParseError, TokenLogprobs
from cocoedit.judge.prompts import (
    PromptFileError,
    UnknownEditTypeError,
    gedit_templates,
    imgedit_template_for,
    imgedit_templates,
    reward_template,
)


def test_reward_template_text_mode_averages_and_scales():
    t = reward_template("text")
    assert t.images == ("source", "edited")
    assert "make the sky red" in t.render("make the sky red")
    assert t.parse("Editing effect: 4\nVisual quality: 3", None) == {"effect": 4.0, "quality": 3.0, "score": 0.7}


def test_reward_template_logprob_mode_uses_expected_digits():
    t = reward_template("logprobs")
    text = "Editing effect: 4\nVisual quality: 5"
    pieces = ["Editing", " effect", ":", " ", "4", "\n", "Visual", " quality", ":", " ", "5"]
    tokens = [TokenLogprobs(p, {p: 0.0}) for p in pieces]
    tokens[4] = TokenLogprobs("4", {"4": math.log(0.5), "2": math.log(0.5)})
    scores = t.parse(text, tokens)
    assert scores["effect"] == pytest.approx(3.0) and scores["quality"] == pytest.approx(5.0)
    assert scores["score"] == pytest.approx(0.8)
    with pytest.raises(ReplyParseError, match="has none"):
        t.parse(text, None)


def test_gedit_templates_min_of_two_and_image_roles():
    sc, pq = gedit_templates()["sc"], gedit_templates()["pq"]
    assert sc.images == ("source", "edited") and pq.images == ("edited",)
    assert sc.parse('{"reasoning": "x", "score": [8, 5]}', None)["value"] == 5.0
    assert "<instruction>" not in sc.render("add a hat")
    assert pq.render(None) == pq.text


def test_official_gedit_prompts_are_read_without_running_the_file(tmp_path):
    path = tmp_path / "vie_prompts.py"
    path.write_text(
        'import os\nos.remove("nothing")\n'  # never executed: would raise if it were
        '_context_no_delimit = "CTX"\n_prompts_0shot_two_image_edit_rule = "TWO"\n'
        '_prompts_0shot_tie_rule_SC = "SC rule <instruction>"\n_prompts_0shot_rule_PQ = "PQ rule"\n'
    )
    t = gedit_templates(path)
    assert t["sc"].text == "CTX\nTWO\nSC rule <instruction>" and t["pq"].text == "CTX\nPQ rule"
    assert t["sc"].version.startswith("official-") and t["sc"].version != "1"
    path.write_text('_context_no_delimit = "CTX"\n')
    with pytest.raises(PromptFileError, match="_prompts_0shot_tie_rule_SC"):
        gedit_templates(path)


def test_imgedit_templates_ours_and_official(tmp_path):
    ours = imgedit_templates()
    assert len(ours) == 9
    assert imgedit_template_for(ours, "adjust").name == "imgedit-alter"
    reply = "Reasoning: good.\nInstruction compliance: 5\nIntegration: 4\nPreservation: 3"
    assert ours["add"].parse(reply, None)["score"] == pytest.approx(4.0)
    with pytest.raises(UnknownEditTypeError, match="known types"):
        imgedit_template_for(ours, "teleport")

    path = tmp_path / "prompts.json"
    path.write_text(json.dumps({"add": "Rate <edit_prompt>", "hybrid": "Rate all of <edit_prompt>"}))
    official = imgedit_templates(path)
    assert set(official) == {"add", "compose"}
    assert official["add"].render("add a cat") == "Rate add a cat"
    assert official["add"].parse("A: 2\nB: 2\nC: 5", None)["score"] == pytest.approx(3.0)
    path.write_text(json.dumps({"add": "no placeholder"}))
    with pytest.raises(PromptFileError, match="placeholder"):
        imgedit_templates(path)
