"""How every report writes a number: by what the number is, not by how large it happens to be.

:func:`format_number` takes a value and its kind; :func:`kind_for` guesses the kind from a metric
or column name (``keep_psnr``, ``keep PSNR macro``, ``val/keep_ssim``, ``samples`` ...), so a
table can format each column from its header alone.

Kinds and what they print:

===============  ===============================================================
``int``          counts and steps: no decimals (``12``)
``db``           PSNR in dB: 2 decimals; an exact copy (>= 100 dB) prints ``exact``
``ssim``         SSIM: 4 decimals
``similarity``   cosine similarities, LPIPS distances, win rates, fractions: 3 decimals
``error``        MAE / MSE: 4 significant digits (``0.03137``, ``9.8e-05``)
``score``        judge scores (0-10 or 1-5) and Elo-scale ratings: 2 decimals
``seconds``      durations: 1 decimal
``auto``         anything else: integral values without decimals, else 4 significant digits
===============  ===============================================================

``None`` and NaN print as an en dash; infinities as ``∞``/``-∞``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

NumberKind = Literal["int", "db", "ssim", "similarity", "error", "score", "seconds", "auto"]
KINDS: tuple[str, ...] = ("int", "db", "ssim", "similarity", "error", "score", "seconds", "auto")

#: PSNR at or above this is an exactly reproduced region (metrics.PSNR_IDENTICAL_DB).
EXACT_DB = 100.0
MISSING = "–"

# Checked in order: the first pattern that matches the lower-cased name decides.
_NAME_KINDS: tuple[tuple[str, NumberKind], ...] = (
    (r"psnr|\bdb\b|\(db\)", "db"),
    (r"\belo\b", "int"),  # Elo-scale ratings are read as whole points
    (r"ssim", "ssim"),
    (r"lpips|dino|clip|similarity|fraction|share|rate\b|win.?rate|prob", "similarity"),
    (r"\bmae\b|\bmse\b|_mae|_mse|mae\b|mse\b|edit.change|error|loss|grad", "error"),
    (
        r"^n$|\bn\b|samples|scored|count|missing|unreadable|failed|step|votes|wins|losses|ties|exact|"
        r"raters|comparisons|kept|dropped|pairs",
        "int",
    ),
    (
        r"elo|bt\b|score|\bsc\b|\bpq\b|^o\b|\bo\b|overall|^success$|sc: success"
        r"|overedit|naturalness|artifacts|c[123]\b",
        "score",
    ),
    (r"seconds|time/|\btime\b|\bs\b$", "seconds"),
)


def kind_for(name: str) -> NumberKind:
    """The kind of number a metric or column called ``name`` holds (``auto`` if unknown)."""
    lowered = name.lower()
    for pattern, kind in _NAME_KINDS:
        if re.search(pattern, lowered):
            return kind
    return "auto"


def is_exact_psnr(value: Any) -> bool:
    """True for a PSNR that marks an exactly reproduced region."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= EXACT_DB


def format_number(value: Any, kind: NumberKind | str = "auto") -> str:
    """``value`` as text for a report (see the module docstring); text passes through unchanged."""
    if kind not in KINDS:
        raise ValueError(f"unknown number kind {kind!r}; choose one of {', '.join(KINDS)}")
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if not isinstance(value, (int, float)):
        return str(value)
    value = float(value) if not isinstance(value, int) else value
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
    if kind == "db":
        return "exact" if is_exact_psnr(value) else f"{value:.2f}"
    if kind == "int":
        return f"{round(value):d}"
    if kind == "ssim":
        return f"{value:.4f}"
    if kind == "similarity":
        return f"{value:.3f}"
    if kind == "error":
        return f"{value:.4g}"
    if kind == "score":
        return f"{value:.2f}"
    if kind == "seconds":
        return f"{value:.1f}"
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e15):
        return f"{int(value):d}"
    return f"{value:.4g}"


def format_metric(name: str, value: Any) -> str:
    """``value`` formatted by the kind its name suggests."""
    return format_number(value, kind_for(name))
