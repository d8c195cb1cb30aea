"""The report's statement follows the numbers: the trade-off is claimed only when it is there."""

from cocoedit.demo.report import _verdict


def _row(title, edit, edit_std, psnr, psnr_std):
    return {"title": title, "vs_base": {"edit_success": {"mean": edit, "std": edit_std},
                                        "keep_psnr": {"mean": psnr, "std": psnr_std}}}


def _rows(judge, cocoedit):
    return {"base": {"title": "base"}, "judge": _row("(a) judge only", *judge),
            "judge_pixel": _row("(b) judge + pixel", 0.05, 0.01, 0.5, 0.1), "cocoedit": _row("(c) CoCoEdit", *cocoedit)}


def test_the_papers_pattern_is_stated():
    appears, sentences = _verdict(_rows((0.10, 0.02, -1.5, 0.3), (0.08, 0.02, 2.0, 0.4)))
    assert appears is True
    assert "edit success up 0.100" in sentences[0] and "PSNR down 1.50 dB" in sentences[0]
    assert "appears" in sentences[-1]


def test_a_change_within_the_seed_spread_does_not_count():
    appears, sentences = _verdict(_rows((0.10, 0.02, -0.2, 0.5), (0.08, 0.02, 2.0, 0.4)))
    assert appears is False
    assert "within the seed spread" in sentences[0]
    assert "judge-only RL did not clearly damage the keep region" in sentences[-1]
    assert "CoCoEdit did not" not in sentences[-1]


def test_every_missing_part_is_named():
    appears, sentences = _verdict(_rows((-0.1, 0.01, 1.0, 0.1), (-0.1, 0.01, -1.0, 0.1)))
    assert appears is False
    for part in ("judge-only RL did not clearly raise edit success", "judge-only RL did not clearly damage",
                 "CoCoEdit did not clearly raise edit success", "CoCoEdit did not clearly improve"):
        assert part in sentences[-1]
