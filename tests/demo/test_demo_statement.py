"""The demo's statement follows the paired per-seed differences: a change counts only beyond two
standard errors, and each claim is made only when the numbers carry it."""

import math

import pytest

from cocoedit.demo.statement import claims_and_sentences, paired_change


def test_paired_change_by_hand():
    c = paired_change([0.1, 0.2, 0.3])
    assert c["mean"] == pytest.approx(0.2) and c["std"] == pytest.approx(0.1)
    assert c["se"] == pytest.approx(0.1 / math.sqrt(3))  # 0.0577: 0.2 > 2 x 0.0577
    assert c["clear"] is True
    # Mean 0.1, std 0.1: above one std would have counted, but not above two standard errors (0.115).
    assert paired_change([0.0, 0.1, 0.2])["clear"] is False
    assert paired_change([-0.5, -0.6, -0.4])["clear"] is True
    one = paired_change([0.3])
    assert one["clear"] is False and math.isnan(one["se"])  # no spread, no claim
    assert paired_change([0.1, float("nan"), 0.3])["n"] == 2


def _row(title, edit, psnr):
    return {"title": title, "vs_base": {"edit_success": paired_change(edit), "keep_psnr": paired_change(psnr)}}


UP, DOWN, FLAT = [0.05, 0.06, 0.07], [-1.0, -1.2, -1.4], [0.05, -0.02, 0.01]
PSNR_UP = [2.0, 1.8, 2.2]


def rows(**arms):
    titles = {
        "judge": "(a) judge only",
        "judge_pixel": "(b) judge + pixel",
        "cocoedit": "(c) CoCoEdit",
        "cocoedit_corrected": "(d) CoCoEdit, corrected edit term",
    }
    return {"base": {"title": "base"}, **{name: _row(titles[name], *values) for name, values in arms.items()}}


def test_the_papers_pattern_is_claimed_when_an_arm_improves_both():
    claims, sentences = claims_and_sentences(
        rows(judge=(UP, DOWN), judge_pixel=(UP, FLAT), cocoedit=(DOWN, PSNR_UP), cocoedit_corrected=(UP, PSNR_UP))
    )
    assert claims == {
        "judge_only_tradeoff": True,
        "both_improve": {"cocoedit": False, "cocoedit_corrected": True},
        "paper_pattern": True,
    }
    assert "edit success up 0.060 (± 0.006 s.e., beyond the seed spread)" in sentences[0]
    assert "keep-region PSNR down 1.20 dB" in sentences[0]
    assert "(c) CoCoEdit does not raise both" in " ".join(sentences)
    assert "(d) CoCoEdit, corrected edit term raises both" in " ".join(sentences)


def test_changes_within_the_spread_do_not_count():
    claims, sentences = claims_and_sentences(rows(judge=(UP, FLAT), cocoedit=(FLAT, PSNR_UP)))
    assert claims["judge_only_tradeoff"] is False and claims["both_improve"] == {"cocoedit": False}
    assert claims["paper_pattern"] is False
    assert "within the seed spread" in sentences[0]
    assert "does not show Edit-R1's trade-off" in " ".join(sentences)


def test_claims_need_their_arms():
    claims, _ = claims_and_sentences(rows(cocoedit=(UP, PSNR_UP)))
    assert claims["judge_only_tradeoff"] is None and claims["paper_pattern"] is None
    assert claims["both_improve"] == {"cocoedit": True}
    claims, sentences = claims_and_sentences(rows(judge=([0.1], [-1.0]), cocoedit=([0.1], [1.0])))
    assert claims["paper_pattern"] is False  # one seed: nothing is beyond a spread it does not have
    assert "one seed" in sentences[0]
