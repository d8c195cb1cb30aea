"""`cocoedit rate export`: every answer as a CSV row, the standings as JSON, clear errors."""

import csv
import json

from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.viewer.server import open_study

runner = CliRunner()


def test_export_writes_answers_and_standings(small_bench, tmp_path):
    folders = [small_bench.results["careful"], small_bench.results["global"]]
    session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / "r.sqlite")
    for rater in ("ann", "bob"):
        while (task := session.store.next_task(rater, session.units, 0)) is not None:
            careful = task.shown.index("careful")
            session.store.vote(task.id, rater, [[careful], [1 - careful]] if rater == "ann" else [[0, 1]])
    session.store.close()
    result = runner.invoke(
        app, ["rate", "export", str(tmp_path / "r.sqlite"), "--out", str(tmp_path / "x"), "--bootstrap", "50"]
    )
    assert result.exit_code == 0, result.output
    assert "careful: win rate 0.750 over 6 comparisons" in result.output  # 3 wins + 3 ties
    with open(tmp_path / "x" / "ratings.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and {r["rater"] for r in rows} == {"ann", "bob"}
    assert {r["winner"] for r in rows if r["rater"] == "ann"} == {"careful"}
    assert {r["ranking"] for r in rows if r["rater"] == "bob"} <= {"careful = global", "global = careful"}
    summary = json.loads((tmp_path / "x" / "ratings_summary.json").read_text())
    assert summary["judgements"] == 6 and summary["raters"] == {"ann": 3, "bob": 3}
    best, worst = summary["standings"]
    assert best["label"] == "careful" and best["elo"] > 1000 > worst["elo"]
    assert best["elo_low"] <= best["elo"] <= best["elo_high"]
    assert summary["study"]["mode"] == "pairwise" and len(summary["per_sample"]) == 3
    missing = runner.invoke(app, ["rate", "export", str(tmp_path / "nope.sqlite"), "--out", str(tmp_path / "y")])
    assert missing.exit_code == 2 and "ratings file not found" in missing.output


def test_prior_zero_on_a_unanimous_study_writes_everything_and_says_the_score_is_unbounded(small_bench, tmp_path):
    folders = [small_bench.results["careful"], small_bench.results["global"]]
    session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / "r.sqlite")
    for rater in ("ann", "bob"):  # both always prefer "careful"
        while (task := session.store.next_task(rater, session.units, 0)) is not None:
            careful = task.shown.index("careful")
            session.store.vote(task.id, rater, [[careful], [1 - careful]])
    session.store.close()
    out = tmp_path / "x"
    result = runner.invoke(
        app, ["rate", "export", str(tmp_path / "r.sqlite"), "--out", str(out), "--prior", "0", "--bootstrap", "20"]
    )
    assert result.exit_code == 0, result.output
    assert "careful: win rate 1.000 over 6 comparisons, Bradley–Terry +∞ (unbounded)" in result.output
    assert "warning: careful won every comparison it had" in result.output
    assert "warning: global lost every comparison it had" in result.output
    assert "warning: 20 of 20 bootstrap resamples (100%)" in result.output and "biased" in result.output
    with open(out / "ratings.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 6
    text = (out / "ratings_summary.json").read_text()
    assert "Infinity" not in text and "NaN" not in text  # strict JSON
    summary = json.loads(text)
    best, worst = summary["standings"]
    assert (best["label"], best["unbounded"], best["elo"]) == ("careful", "above", None)
    assert (worst["unbounded"], worst["elo"]) == ("below", None)
    assert set(summary["quality"]["raters"]) == {"ann", "bob"} and len(summary["warnings"]) == 3
