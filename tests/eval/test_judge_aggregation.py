"""Judge aggregation as the benchmarks do it: macro over categories, failures left out."""

import pytest

from cocoedit.eval.judge_bench import JudgedSample, aggregate


def _g(key, cat, sc, pq, lang="en", inter=False, status="scored"):
    scores = {"sc": sc, "pq": pq, "o": (sc * pq) ** 0.5} if status == "scored" else {}
    return JudgedSample("run", key, cat, lang, inter, status, "" if status == "scored" else "http_500", scores)


def test_gedit_overall_is_the_mean_of_category_means():
    rows = [
        _g("a1", "add", 4, 9, inter=True),
        _g("a2", "add", 8, 8),
        _g("b1", "remove", 9, 4, inter=True),
        _g("b2", "remove", 0, 0, status="failed"),
        _g("c1", "add", 1, 1, lang="cn"),
    ]
    summary = aggregate("gedit", rows)
    en = summary["per_language"]["en"]
    assert en["full"]["per_category"]["add"] == {"n": 2, "sc": 6.0, "pq": 8.5, "o": pytest.approx((6 + 8) / 2)}
    assert en["full"]["per_category"]["remove"]["n"] == 1  # the failed sample is not a zero
    assert en["full"]["overall"]["o"] == pytest.approx((7 + 6) / 2)  # macro, not (6+8+6)/3
    assert en["intersection"]["overall"]["o"] == pytest.approx(6.0)
    assert summary["per_language"]["cn"]["full"]["overall"]["o"] == pytest.approx(1.0)
    assert summary["counts"] == {"samples": 5, "scored": 4, "missing": 0, "unreadable": 0, "failed": 1}
    assert summary["failure_reasons"] == {"http_500": 1}
    assert summary["headline"] == {"metric": "GEdit O (en, full set)", "value": pytest.approx(6.5)}


def test_imgedit_overall_is_the_mean_of_type_means():
    rows = [
        JudgedSample("run", k, t, None, False, "scored", "", {"score": s, "c1": s, "c2": s, "c3": s})
        for k, t, s in [("1", "add", 5.0), ("2", "add", 3.0), ("3", "remove", 2.0)]
    ]
    rows.append(JudgedSample("run", "4", "style", None, False, "missing", "missing"))
    summary = aggregate("imgedit", rows)
    assert summary["per_category"]["add"]["score"] == 4.0 and summary["per_category"]["style"]["n"] == 0
    assert summary["overall"]["score"] == pytest.approx(3.0)  # (4 + 2) / 2 over types that were scored
    assert summary["categories_scored"] == 2 and summary["all_types_present"] is False
    assert summary["counts"]["missing"] == 1


def test_reasoning_is_read_from_json_or_a_reasoning_line():
    from cocoedit.eval.judge_bench import reply_reasoning

    assert reply_reasoning('{"reasoning": "Sky is blue now.", "score": [8, 7]}') == "Sky is blue now."
    assert reply_reasoning('```json\n{"Reasoning": " fine ", "score": [1, 2]}\n```') == "fine"
    assert reply_reasoning("Reasoning: the cat is gone\nInstruction compliance: 4") == "the cat is gone"
    assert reply_reasoning("Editing effect: 3") == "" and reply_reasoning(None) == ""


def test_gedit_subscores_are_averaged_like_the_scores():
    rows = [_g("a1", "add", 4, 9), _g("a2", "add", 8, 8)]
    rows[0].scores.update(success=4, overedit=6, naturalness=9, artifacts=10)
    rows[1].scores.update(success=8, overedit=9, naturalness=8, artifacts=9)
    overall = aggregate("gedit", rows)["per_language"]["en"]["full"]["overall"]
    assert overall["success"] == 6.0 and overall["overedit"] == 7.5 and overall["artifacts"] == 9.5
