"""Human ratings into per-folder win rates and Bradley–Terry scores with bootstrap intervals.

Conventions
-----------
* A **judgement** is one rater's answer on one sample: an ordering of the results folders shown,
  best first, where a tie puts folders in the same group. Pairwise rating is the case of two
  folders (``[["a"], ["b"]]`` = a wins, ``[["a", "b"]]`` = tie); a ranking of N folders is one
  judgement too.
* :func:`pairwise_outcomes` turns judgements into comparisons ``(i, j, s)``: folder ``i`` against
  ``j`` with ``s = 1`` (i better), ``0.5`` (tie) or ``0`` (j better), one per pair of folders in the
  judgement.
* :func:`comparison_matrix` counts them into ``W [N, N]``: ``W[i, j]`` = wins of ``i`` over ``j``,
  a tie adding 0.5 to both ``W[i, j]`` and ``W[j, i]``.

Bradley–Terry
-------------
``P(i beats j) = p_i / (p_i + p_j)``, ``p_i = exp(θ_i)``. :func:`bradley_terry` maximises the
likelihood of ``W`` (ties as half a win each way, the usual simplification) with Hunter's MM
iterations ``p_i <- W_i / Σ_j n_ij / (p_i + p_j)``, where ``W_i = Σ_j W[i, j]`` and
``n_ij = W[i, j] + W[j, i]``. ``prior`` adds that many tied comparisons between every pair, which
keeps the estimate finite when a folder wins (or loses) every comparison; with ``prior = 0`` and
two folders, ``θ_a - θ_b = log(W[a, b] / W[b, a])``. θ is centred to mean 0 and reported on the
Elo scale ``elo = 1000 + 400 θ / ln 10`` (a 400-point gap = 10:1 odds).

Confidence intervals
--------------------
:func:`bootstrap` resamples **judgements** (not comparisons: the comparisons of one ranking are
not independent) with replacement, refits, and takes the percentile interval. With ``prior = 0`` a
resample in which some folder won or lost every comparison has no finite fit: such **degenerate**
resamples are counted and left out, and the interval is over the others (a large share says the
answers cannot bound θ without a prior); when every resample is degenerate the interval is NaN.

Unbounded folders
-----------------
With ``prior = 0``, a folder that won every comparison it had has its maximum at θ = +∞ (one that
lost every one at −∞). :func:`fit_standings` does not fail on them: :func:`unbounded_directions`
peels them off (repeatedly: among the folders left, one may now have won everything), they are
reported with θ = ±∞ and ``unbounded = "above"`` / ``"below"``, and the others are fitted among
themselves (θ NaN when they have no finite fit either).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from cocoedit.core.errors import CocoEditError

Judgement = Sequence[Sequence[str]]  # groups of folder labels, best group first
ELO_BASE = 1000.0
ELO_SCALE = 400.0 / math.log(10.0)


class AggregationError(CocoEditError):
    """The answers do not determine a ranking (e.g. a folder won every comparison and no prior
    was given)."""


def pairwise_outcomes(judgement: Judgement) -> list[tuple[str, str, float]]:
    """The comparisons one judgement implies: ``(a, b, s)`` with s = 1 (a better), 0.5 (tie)."""
    placed = [(rank, label) for rank, group in enumerate(judgement) for label in group]
    labels = [label for _, label in placed]
    if len(set(labels)) != len(labels):
        raise ValueError(f"a folder appears twice in the judgement {judgement!r}")
    out = []
    for (rank_a, a), (rank_b, b) in combinations(placed, 2):
        out.append((a, b, 1.0 if rank_a < rank_b else 0.5))
    return out


def comparison_matrix(judgements: Sequence[Judgement], labels: Sequence[str]) -> np.ndarray:
    """``W [N, N]``: ``W[i, j]`` = wins of folder i over folder j (ties count 0.5 each way)."""
    index = {label: i for i, label in enumerate(labels)}
    w = np.zeros((len(labels), len(labels)))
    for judgement in judgements:
        for a, b, s in pairwise_outcomes(judgement):
            if a not in index or b not in index:
                raise ValueError(f"judgement names a folder not in {list(labels)}: {judgement!r}")
            w[index[a], index[b]] += s
            w[index[b], index[a]] += 1.0 - s
    return w


def bradley_terry(w: np.ndarray, prior: float = 0.0, tol: float = 1e-10, max_iter: int = 10_000) -> np.ndarray:
    """Bradley–Terry log-strengths θ ``[N]`` (mean 0) of the win matrix ``w [N, N]``.

    ``prior`` adds ``prior`` tied comparisons (0.5 to each side) between every pair of folders.
    A folder with no comparison gets θ = 0 only if ``prior > 0``; with ``prior = 0`` the caller must
    make sure every folder has won and lost something (else the maximum is at infinity), and a
    ValueError says so.
    """
    w = np.asarray(w, dtype=float)
    n = w.shape[0]
    if w.shape != (n, n):
        raise ValueError(f"the win matrix must be square, got {w.shape}")
    w = w + prior * 0.5 * (1.0 - np.eye(n))
    np.fill_diagonal(w, 0.0)
    wins = w.sum(axis=1)
    games = w + w.T
    if prior == 0 and (np.any(wins == 0) or np.any(games.sum(axis=1) - wins == 0)):
        raise AggregationError(
            "a folder won or lost every comparison (or has none): the Bradley–Terry maximum is at "
            "infinity; use prior > 0"
        )
    p = np.ones(n)
    for _ in range(max_iter):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = wins / denom
        new /= math.exp(np.log(new).mean())
        if np.max(np.abs(np.log(new) - np.log(p))) < tol:
            p = new
            break
        p = new
    theta = np.log(p)
    return theta - theta.mean()


def elo(theta: np.ndarray) -> np.ndarray:
    """Log-strengths on the Elo scale (mean 1000; +400 = 10:1 odds)."""
    return ELO_BASE + ELO_SCALE * np.asarray(theta)


@dataclass(frozen=True)
class BootstrapResult:
    """Percentile interval ``low``/``high`` ``[N]`` of θ, from ``resamples`` draws of which
    ``degenerate`` had no finite fit (prior 0 only) and were left out."""

    low: np.ndarray
    high: np.ndarray
    resamples: int
    degenerate: int


def bootstrap(
    judgements: Sequence[Judgement],
    labels: Sequence[str],
    prior: float,
    samples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Percentile intervals of θ over judgements resampled with replacement; degenerate resamples
    (a folder that won or lost everything, with ``prior = 0``) counted and left out."""
    nan = np.full(len(labels), np.nan)
    if not judgements:
        return BootstrapResult(nan, nan.copy(), 0, 0)
    per_judgement = np.stack([comparison_matrix([j], labels) for j in judgements])  # [J, N, N]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(samples):
        counts = rng.multinomial(len(judgements), np.full(len(judgements), 1.0 / len(judgements)))
        try:
            draws.append(bradley_terry(np.tensordot(counts, per_judgement, axes=1), prior=prior))
        except AggregationError:
            continue
    if not draws:
        return BootstrapResult(nan, nan.copy(), samples, samples)
    tail = (1.0 - level) / 2 * 100
    stacked = np.stack(draws)
    return BootstrapResult(
        np.percentile(stacked, tail, axis=0), np.percentile(stacked, 100 - tail, axis=0), samples, samples - len(draws)
    )


def bootstrap_intervals(
    judgements: Sequence[Judgement],
    labels: Sequence[str],
    prior: float,
    samples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals ``(low [N], high [N])`` of θ over judgements resampled with replacement
    (:func:`bootstrap` without the counts)."""
    result = bootstrap(judgements, labels, prior, samples, level, seed)
    return result.low, result.high


def unbounded_directions(w: np.ndarray) -> np.ndarray:
    """Per folder of the win matrix ``w [N, N]`` (no prior): +1 if its θ is unbounded above (it won
    every comparison against the folders still in play), −1 below (it lost every one), 0 otherwise.
    Folders are peeled off in rounds, so the remaining ones are those with a chance of a finite fit."""
    w = np.asarray(w, dtype=float)
    direction = np.zeros(w.shape[0], dtype=int)
    while True:
        active = direction == 0
        sub = w[np.ix_(active, active)]
        wins, losses = sub.sum(axis=1), sub.sum(axis=0)
        above = (losses == 0) & (wins > 0)
        below = (wins == 0) & (losses > 0)
        if not (above.any() or below.any()):
            return direction
        idx = np.flatnonzero(active)
        direction[idx[above]] = 1
        direction[idx[below]] = -1


def _theta_without_prior(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """θ ``[N]`` and :func:`unbounded_directions` for ``prior = 0``: ±∞ for unbounded folders, the
    maximum likelihood of the others among themselves (NaN when that has no finite fit)."""
    direction = unbounded_directions(w)
    theta = np.where(direction > 0, np.inf, np.where(direction < 0, -np.inf, np.nan))
    played = (w + w.T).sum(axis=1) > 0  # a folder without comparisons has no θ at all (NaN)
    rest = np.flatnonzero((direction == 0) & played)
    if len(rest) > 1:
        try:
            theta[rest] = bradley_terry(w[np.ix_(rest, rest)], prior=0.0)
        except AggregationError:
            pass  # e.g. folders without comparisons: left NaN
    elif len(rest) == 1:
        theta[rest] = 0.0
    return theta, direction


@dataclass(frozen=True)
class FolderStanding:
    label: str
    comparisons: float
    wins: float
    ties: float
    losses: float
    win_rate: float  # (wins + ties / 2) / comparisons; NaN without comparisons
    theta: float
    theta_low: float
    theta_high: float
    unbounded: str | None = None  # "above" / "below": θ is ±∞ (prior 0 and the folder won / lost everything)

    @property
    def elo(self) -> float:
        return float(elo(self.theta))

    def as_dict(self) -> dict:
        d = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}
        d.update(elo=self.elo, elo_low=float(elo(self.theta_low)), elo_high=float(elo(self.theta_high)))
        # JSON has no infinity: an unbounded θ is null, with ``unbounded`` saying which way
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def standings(
    judgements: Sequence[Judgement],
    labels: Sequence[str],
    prior: float = 1.0,
    bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> list[FolderStanding]:
    """Win counts, win rate, Bradley–Terry θ and its bootstrap interval for every folder, best first."""
    return fit_standings(judgements, labels, prior, bootstrap, level, seed)[0]


def fit_standings(
    judgements: Sequence[Judgement],
    labels: Sequence[str],
    prior: float = 1.0,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[list[FolderStanding], BootstrapResult]:
    """:func:`standings` and the bootstrap behind its intervals (how many resamples were degenerate).

    With ``prior = 0``, folders whose θ is unbounded (they won or lost everything) are reported as
    such (θ ±∞, ``unbounded``), not as an error; the others are fitted among themselves."""
    wins = np.zeros(len(labels))
    ties = np.zeros(len(labels))
    games = np.zeros(len(labels))
    index = {label: i for i, label in enumerate(labels)}
    for judgement in judgements:
        for a, b, s in pairwise_outcomes(judgement):
            ia, ib = index[a], index[b]
            games[[ia, ib]] += 1
            if s == 0.5:
                ties[[ia, ib]] += 1
            else:
                wins[ia] += 1
    direction = np.zeros(len(labels), dtype=int)
    if not judgements:
        theta = np.zeros(len(labels))
    elif prior == 0:
        theta, direction = _theta_without_prior(comparison_matrix(judgements, labels))
    else:
        theta = bradley_terry(comparison_matrix(judgements, labels), prior=prior)
    boot = bootstrap(judgements, labels, prior, resamples, level, seed)
    low, high = boot.low, boot.high
    out = [
        FolderStanding(
            label,
            float(games[i]),
            float(wins[i]),
            float(ties[i]),
            float(games[i] - wins[i] - ties[i]),
            float((wins[i] + ties[i] / 2) / games[i]) if games[i] else math.nan,
            float(theta[i]),
            float(low[i]),
            float(high[i]),
            {1: "above", -1: "below"}.get(int(direction[i])),
        )
        for i, label in enumerate(labels)
    ]
    return sorted(out, key=lambda s: (math.isnan(s.theta), -s.theta)), boot
