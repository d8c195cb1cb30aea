"""Ratings into win rates and Bradley–Terry scores: hand-checked cases, recovery of known
strengths, and bootstrap intervals that behave as intervals should."""

import math

import numpy as np
import pytest

from cocoedit.viewer.aggregate import (
    AggregationError,
    bootstrap_intervals,
    bradley_terry,
    comparison_matrix,
    elo,
    pairwise_outcomes,
    standings,
)


def test_a_ranking_with_a_tie_gives_every_pair_once():
    assert pairwise_outcomes([["a"], ["b", "c"], ["d"]]) == [
        ("a", "b", 1.0),
        ("a", "c", 1.0),
        ("a", "d", 1.0),
        ("b", "c", 0.5),
        ("b", "d", 1.0),
        ("c", "d", 1.0),
    ]
    with pytest.raises(ValueError, match="twice"):
        pairwise_outcomes([["a"], ["a"]])


def test_win_matrix_counts_ties_as_half_each_way():
    w = comparison_matrix([[["a"], ["b"]], [["a"], ["b"]], [["b"], ["a"]], [["a", "b"]]], ["a", "b"])
    assert w.tolist() == [[0.0, 2.5], [1.5, 0.0]]


def test_two_folders_by_hand():
    w = np.array([[0.0, 3.0], [1.0, 0.0]])
    theta = bradley_terry(w, prior=0.0)
    assert theta[0] - theta[1] == pytest.approx(math.log(3.0), abs=1e-8)
    assert theta.sum() == pytest.approx(0.0, abs=1e-12)
    # prior 1 = one extra tie = half a win each way.
    assert np.diff(bradley_terry(w, prior=1.0))[0] == pytest.approx(-math.log(3.5 / 1.5), abs=1e-8)
    assert elo(np.array([math.log(10) / 2, -math.log(10) / 2])).tolist() == pytest.approx([1200.0, 800.0])


def test_recovers_known_strengths_from_expected_counts():
    p = np.array([4.0, 2.0, 1.0])
    w = 60 * p[:, None] / (p[:, None] + p[None, :])
    np.fill_diagonal(w, 0)
    theta = bradley_terry(w)
    assert theta - theta[2] == pytest.approx(np.log(p / p[2]), abs=1e-7)


def test_a_folder_that_always_wins_needs_a_prior():
    w = np.array([[0.0, 5.0], [0.0, 0.0]])
    with pytest.raises(AggregationError, match="prior > 0"):
        bradley_terry(w, prior=0.0)
    assert np.isfinite(bradley_terry(w, prior=1.0)).all()


def test_bootstrap_intervals_cover_the_estimate_and_shrink_with_data():
    labels = ["a", "b"]
    few = [[["a"], ["b"]]] * 3 + [[["b"], ["a"]]]
    many = few * 25
    theta = bradley_terry(comparison_matrix(many, labels), prior=1.0)
    lo_m, hi_m = bootstrap_intervals(many, labels, prior=1.0, samples=300, seed=1)
    lo_f, hi_f = bootstrap_intervals(few, labels, prior=1.0, samples=300, seed=1)
    assert np.all(lo_m <= theta + 1e-9) and np.all(theta <= hi_m + 1e-9)
    assert (hi_f - lo_f)[0] > 2 * (hi_m - lo_m)[0]
    again = bootstrap_intervals(many, labels, prior=1.0, samples=300, seed=1)
    assert np.array_equal(again[0], lo_m) and np.array_equal(again[1], hi_m)


def test_standings_count_wins_ties_and_rank_best_first():
    judgements = [[["b"], ["a"]], [["b"], ["a"]], [["a", "b"]], [["a"], ["b"]], [["b"], ["c"]]]
    table = {s.label: s for s in standings(judgements, ["a", "b", "c"], prior=1.0, bootstrap=50)}
    b = table["b"]
    assert (b.comparisons, b.wins, b.ties, b.losses) == (5, 3, 1, 1)
    assert b.win_rate == pytest.approx(3.5 / 5)
    assert table["c"].win_rate == 0.0
    assert [s.label for s in standings(judgements, ["a", "b", "c"], bootstrap=50)] == ["b", "a", "c"]
    assert standings([], ["a", "b"], bootstrap=10)[0].as_dict()["win_rate"] is None


def test_without_a_prior_unbounded_folders_are_peeled_off_and_the_rest_fitted():
    # a beat everyone; then b beat c and d; c and d split 3:1; e never played.
    labels = ["a", "b", "c", "d", "e"]
    judgements = [[["a"], ["b"]], [["a"], ["c"]], [["b"], ["c"]], [["b"], ["d"]]]
    judgements += [[["c"], ["d"]]] * 3 + [[["d"], ["c"]]]
    table = {s.label: s for s in standings(judgements, labels, prior=0.0, bootstrap=20)}
    assert table["a"].unbounded == "above" and table["a"].theta == math.inf
    assert table["b"].unbounded == "above"  # unbounded against c and d once a is off
    assert table["c"].unbounded is None and table["c"].theta - table["d"].theta == pytest.approx(math.log(3))
    assert math.isnan(table["e"].theta) and table["e"].unbounded is None
    assert [s.label for s in standings(judgements, labels, prior=0.0, bootstrap=20)][-1] == "e"
    row = table["a"].as_dict()
    assert row["elo"] is None and row["theta"] is None and row["unbounded"] == "above"
    loser = standings([[["x"], ["y"]]] * 4, ["x", "y"], prior=0.0, bootstrap=20)
    assert [(s.label, s.unbounded) for s in loser] == [("x", "above"), ("y", "below")]
