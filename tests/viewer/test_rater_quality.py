"""Rater quality in the export: agreement (Cohen's and Fleiss' κ on textbook cases), side bias, pace,
shares of ties / both bad / skips, raters dropped below an agreement, and `--prior 0` with
degenerate bootstrap resamples counted instead of crashing."""

import csv
import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.viewer.export import export_ratings
from cocoedit.viewer.quality import cohen_kappa, fleiss_kappa, item_categories, rater_quality
from cocoedit.viewer.server import open_study

runner = CliRunner()


def test_cohen_kappa_by_hand():
    # 50 items: both yes 20, first yes second no 5, first no second yes 10, both no 15.
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert cohen_kappa(pairs) == pytest.approx((0.7 - 0.5) / 0.5)  # p_o 0.7, p_e 0.5*0.6 + 0.5*0.4
    assert cohen_kappa([("a", "a"), ("b", "b")]) == 1.0
    assert cohen_kappa([("a", "b"), ("b", "a")]) == -1.0
    assert cohen_kappa([]) is None and cohen_kappa([("a", "a")]) is None  # chance agreement is certain


def test_fleiss_kappa_of_the_textbook_table():
    # Fleiss (1971) as usually tabulated: 10 items, 14 raters each, 5 categories; kappa 0.210.
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    items = [Counter({c: n for c, n in enumerate(row) if n}) for row in table]
    assert fleiss_kappa(items) == pytest.approx(0.20993, abs=1e-5)
    assert fleiss_kappa([Counter({"a": 1})]) is None  # no item rated twice


def judgement(rater, key, shown, ranking, kind="rank", created=0.0):
    return {"rater": rater, "sample_key": key, "shown": shown, "ranking": ranking, "kind": kind, "created": created}


def test_items_side_bias_pace_and_shares():
    ranked = judgement("r", "s1", ["b", "a", "c"], [["c"], ["a", "b"]])
    assert item_categories(ranked) == {("s1", "a", "b"): "tie", ("s1", "a", "c"): "c", ("s1", "b", "c"): "c"}
    assert item_categories(judgement("r", "s1", ["a", "b"], [["a", "b"]], "both_bad")) == {("s1", "a", "b"): "both_bad"}
    assert item_categories(judgement("r", "s1", ["a", "b"], [], "skip")) == {}
    # "lefty" always picks the left result, 10 answers 6 s apart (one 10-minute break);
    # "fair" picks "a" wherever it is shown.
    answers = []
    for i in range(10):
        shown = ["a", "b"] if i % 2 else ["b", "a"]
        t = 6.0 * i + (600 if i >= 5 else 0)
        answers.append(judgement("lefty", f"s{i}", shown, [[shown[0]], [shown[1]]], created=t))
        answers.append(judgement("fair", f"s{i}", shown, [["a"], ["b"]], created=t))
    answers.append(judgement("fair", "s10", ["a", "b"], [], "skip", created=1000.0))
    answers.append(judgement("fair", "s11", ["a", "b"], [["a", "b"]], "both_bad", created=1001.0))
    quality = rater_quality(answers, "pairwise", {"fair": 2})
    lefty, fair = quality["raters"]["lefty"], quality["raters"]["fair"]
    assert lefty["side_bias"]["left_share"] == 1.0 and lefty["side_bias"]["p_value"] == pytest.approx(2 / 2**10)
    assert fair["side_bias"]["left_share"] == 0.5 and fair["side_bias"]["p_value"] == 1.0
    assert lefty["answers_per_minute"] == pytest.approx(10.0)  # median gap 6 s; the break does not count
    assert lefty["median_seconds_between_answers"] == 6.0
    assert fair["skip_share"] == pytest.approx(1 / 12) and fair["both_bad_share"] == pytest.approx(1 / 12)
    assert fair["tie_share"] == 0.0 and fair["undone"] == 2 and lefty["undone"] == 0
    # They agree on the 5 items where "a" was on the left and disagree on the other 5: kappa 0.
    assert lefty["shared_ratings"] == 10 and lefty["agreement_kappa"] == pytest.approx(0.0)
    assert quality["items_rated_twice_or_more"] == 10
    assert rater_quality(answers, "ranked")["raters"]["lefty"]["side_bias"]["p_value"] is None


def answer_all(session, rater, choose):
    while (task := session.store.next_task(rater, session.units, 0)) is not None:
        kind, ranking = choose(task)
        session.store.vote(task.id, rater, ranking, kind)


def test_export_keeps_kinds_apart_and_drops_raters_below_an_agreement(small_bench, tmp_path):
    folders = [small_bench.results["careful"], small_bench.results["global"]]
    session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / "r.sqlite")
    keys = sorted(session.samples)
    truth = {keys[0]: "careful", keys[1]: "global", keys[2]: "tie"}  # what the agreeing raters answer

    def honest(task):
        if truth[task.sample_key] == "tie":
            return "rank", [[0, 1]]
        better = task.shown.index(truth[task.sample_key])
        return "rank", [[better], [1 - better]]

    def contrary(task):  # the other folder, and "careful" where the others see a tie
        t = truth[task.sample_key]
        better = 1 - task.shown.index(t) if t != "tie" else task.shown.index("careful")
        return "rank", [[better], [1 - better]]

    for rater in ("ann", "bob", "cat"):
        answer_all(session, rater, honest)
    answer_all(session, "eve", contrary)
    answer_all(session, "sam", lambda task: ("skip", None) if truth[task.sample_key] == "tie" else ("both_bad", None))
    session.store.close()
    _, _, everyone = export_ratings(tmp_path / "r.sqlite", tmp_path / "all", bootstrap=20)
    assert everyone["answers"] == {"rank": 12, "both_bad": 2, "skip": 1}
    raters = everyone["quality"]["raters"]
    # ann shares 11 ratings (3 with bob, cat, eve each, 2 with sam), 6 agree; ann's categories
    # careful 4, global 4, tie 3 of 11; the others' careful 4, global 3, tie 2, both bad 2 of 11:
    # chance = (16 + 12 + 6) / 121, kappa = (6/11 - 34/121) / (1 - 34/121) = 32/87.
    assert raters["ann"]["shared_ratings"] == 11 and raters["ann"]["agreement_kappa"] == pytest.approx(32 / 87)
    assert raters["eve"]["agreement_kappa"] < 0 and raters["ann"]["tie_share"] == pytest.approx(1 / 3)
    with open(tmp_path / "all" / "ratings.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    sam = [r for r in rows if r["rater"] == "sam"]
    assert {r["answer"] for r in sam} == {"skip", "both_bad"} and {r["winner"] for r in sam} == {"skip", "both bad"}
    assert all(r["ranking"] == "" for r in sam if r["answer"] == "skip")
    assert everyone["judgements"] == 14  # a skip is no judgement; "both bad" is a tie, counted apart
    careful = next(s for s in everyone["standings"] if s["label"] == "careful")
    assert careful["both_bad"] == 2 and careful["ties"] == 3 + 2

    r = runner.invoke(
        app,
        ["rate", "export", str(tmp_path / "r.sqlite"), "--out", str(tmp_path / "f"), "--bootstrap", "20",
         "--min-agreement", "0.2"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    filtered = json.loads((tmp_path / "f" / "ratings_summary.json").read_text())
    assert filtered["raters_dropped"] == ["eve", "sam"] and filtered["raters_unmeasured"] == []
    assert filtered["judgements"] == 14 - 3 - 2
    assert "rater eve: 3 answer(s)" in r.output and "left out: agreement below the minimum" in r.output


def test_prior_zero_counts_degenerate_resamples_instead_of_failing(small_bench, tmp_path):
    folders = [small_bench.results["careful"], small_bench.results["global"]]
    session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / "r.sqlite")
    answers = iter([True, True, False])  # careful wins twice, loses once: the fit exists, some resamples do not

    def choose(task):
        c = task.shown.index("careful")
        return ("rank", [[c], [1 - c]]) if next(answers) else ("rank", [[1 - c], [c]])

    answer_all(session, "ann", choose)
    session.store.close()
    out = tmp_path / "x"
    r = runner.invoke(app, ["rate", "export", str(tmp_path / "r.sqlite"), "--out", str(out), "--prior", "0",
                            "--bootstrap", "200"])  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "ratings_summary.json").read_text())
    degenerate = summary["method"]["degenerate_resamples"]
    # A resample is degenerate when all three draws are wins (8/27) or all the loss (1/27).
    assert 0.2 * 200 < degenerate < 0.5 * 200 and f"{degenerate} of 200 bootstrap resamples" in r.output
    assert f"warning: {degenerate} of 200 bootstrap resamples" in r.output and "biased" in r.output  # over 5 %
    best = summary["standings"][0]
    assert best["label"] == "careful" and best["elo_low"] <= best["elo"] <= best["elo_high"]
