"""The demo's statement follows the paired per-seed differences: a change counts only when its 95 %
paired t interval (n - 1 degrees of freedom) excludes 0, and each claim is made only when the
numbers carry it."""

import math

import pytest

from cocoedit.demo.statement import claims_and_sentences, headline, paired_change


def test_paired_t_interval_by_hand():
    c = paired_change([0.1, 0.2, 0.3, 0.2, 0.2])
    sd = math.sqrt(0.02 / 4)  # deviations -0.1, 0, 0.1, 0, 0
    assert c["mean"] == pytest.approx(0.2) and c["std"] == pytest.approx(sd) and c["df"] == 4
    assert c["t"] == pytest.approx(2.776445, rel=1e-6)  # t_{0.975, 4}
    assert (c["low"], c["high"]) == pytest.approx(
        (0.2 - 2.776445 * sd / math.sqrt(5), 0.2 + 2.776445 * sd / math.sqrt(5))
    )
    assert c["excludes_zero"] is True
    # Three seeds, mean 2 s.e. away from 0: the old "2 standard errors" rule counted this; the t
    # interval with 2 degrees of freedom (t = 4.30) does not.
    three = paired_change([0.1, 0.2, 0.3])
    assert three["mean"] / three["se"] > 2 and three["excludes_zero"] is False
    assert three["low"] < 0 < three["high"]
    assert paired_change([-0.5, -0.6, -0.4])["excludes_zero"] is True  # below 0 counts too
    one = paired_change([0.3])
    assert one["excludes_zero"] is False and math.isnan(one["low"])  # no spread, no interval
    assert paired_change([0.1, float("nan"), 0.3])["n"] == 2


def _row(title, edit, psnr):
    return {"title": title, "vs_base": {"edit_success": paired_change(edit), "keep_psnr": paired_change(psnr)}}


UP, DOWN, FLAT = [0.05, 0.06, 0.07, 0.06, 0.06], [-1.0, -1.2, -1.4, -1.2, -1.2], [0.05, -0.02, 0.01, 0.0, -0.03]
PSNR_UP = [2.0, 1.8, 2.2, 2.0, 2.0]
TITLES = {
    "judge": "(a) judge only",
    "judge_pixel": "(b) judge + pixel",
    "cocoedit": "(c) CoCoEdit",
    "cocoedit_corrected": "(d) CoCoEdit, corrected edit term",
    "region": "(e) region credit",
    "region_explore": "(f) region credit + localized noise",
}


def rows(**arms):
    return {"base": {"title": "base"}, **{name: _row(TITLES[name], *values) for name, values in arms.items()}}


def test_the_papers_pattern_is_claimed_when_an_arm_improves_both():
    claims, sentences = claims_and_sentences(
        rows(judge=(UP, DOWN), judge_pixel=(UP, FLAT), cocoedit=(DOWN, PSNR_UP), region=(UP, PSNR_UP))
    )
    assert claims["judge_only_edits_better"] is True and claims["judge_only_tradeoff"] is True
    assert claims["both_improve"] == {"judge_pixel": False, "cocoedit": False, "region": True}
    assert claims["paper_pattern"] is True
    assert claims["test"] == "paired t, 5 seeds, 95 % interval of the paired difference"
    assert sentences[0].startswith(
        "(a) judge only: Δ edit success +0.060 [+0.051, +0.069], Δ keep PSNR -1.20 dB [-1.38, -1.02]"
    )
    assert sentences[0].endswith(": edit success up, keep PSNR down.")
    text = " ".join(sentences)
    assert (
        "Judge-only RL raises edit success: the paired t, 5 seeds, 95 % interval of the paired difference excludes 0"
        in text
    )
    assert "(c) CoCoEdit does not raise both" in text and "(e) region credit raises both" in text


def test_changes_whose_interval_holds_zero_do_not_count():
    claims, sentences = claims_and_sentences(rows(judge=(FLAT, FLAT), cocoedit=(FLAT, PSNR_UP)))
    assert claims["judge_only_edits_better"] is False and claims["judge_only_tradeoff"] is False
    assert claims["both_improve"] == {"cocoedit": False} and claims["paper_pattern"] is False
    assert "edit success not distinguishable from 0, keep PSNR not distinguishable from 0" in sentences[0]
    assert "does not raise edit success measurably" in " ".join(sentences)


def test_claims_need_their_arms():
    claims, _ = claims_and_sentences(rows(cocoedit=(UP, PSNR_UP)))
    assert claims["judge_only_tradeoff"] is None and claims["paper_pattern"] is None
    assert claims["both_improve"] == {"cocoedit": True}
    claims, sentences = claims_and_sentences(rows(judge=([0.1], [-1.0]), cocoedit=([0.1], [1.0])))
    assert claims["paper_pattern"] is False  # one seed: no interval, nothing counts
    assert "one seed: no interval" in sentences[0]


def test_headline_is_one_line():
    line = headline("(a) judge only", paired_change(UP), paired_change(FLAT))
    assert "\n" not in line and line.count("[") == 2
