"""Strict parsers for MLLM judge replies.

Every parser either returns the scores the reply states or raises :class:`ReplyParseError` with
a message naming what is wrong. Nothing is clamped, guessed or defaulted: a reply that says
``7`` on a 0–5 scale is a failure, not a 5.

Departure from the reference (method.md §d.1): the reference takes the first number in [0, 5],
else clamps the first number, else retries and finally uses 2.5. We accept only the exact
format the template asks for.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cocoedit.core.errors import CocoEditError


class ReplyParseError(CocoEditError):
    """A judge reply does not have the format its template asks for."""


@dataclass(frozen=True)
class TokenLogprobs:
    """One generated token and the top alternatives at its position.

    ``top`` maps candidate token text to its log-probability (the ``top_logprobs`` of the
    chat-completions wire format, which includes the sampled token itself).
    """

    token: str
    top: dict[str, float]


@dataclass(frozen=True)
class LabelledScore:
    """A score found in a reply: its label, integer value and character span of the value."""

    label: str
    value: int
    span: tuple[int, int]


_LINE_SCORE = re.compile(
    r"^[ \t>*_#-]*(?P<label>[A-Za-z][A-Za-z &/'()-]*?)[ \t*_]*:[ \t*_]*(?P<value>[+-]?\d+(?:\.\d+)?)[ \t*_.]*$",
    re.MULTILINE,
)


def _norm_label(label: str) -> str:
    return " ".join(label.lower().replace("_", " ").split())


def parse_labelled_scores(
    text: str, labels: Sequence[str] | None, count: int, low: int, high: int
) -> list[LabelledScore]:
    """Scores written one per line as ``Label: N``.

    With ``labels``, exactly those labels (case- and space-insensitive) must each appear once,
    and the result is in the order of ``labels``. Without, exactly ``count`` such lines must be
    present, in reply order. Values must be integers in ``[low, high]``.
    """
    lines = [(_norm_label(m["label"]), m["value"], m.span("value")) for m in _LINE_SCORE.finditer(text)]
    if labels is None:
        if len(lines) != count:
            raise ReplyParseError(f"expected {count} 'Label: score' lines, found {len(lines)}")
        picked = lines
    else:
        wanted = [_norm_label(x) for x in labels]
        by_label: dict[str, tuple[str, str, tuple[int, int]]] = {}
        for line in lines:
            if line[0] in by_label:
                raise ReplyParseError(f"label {line[0]!r} appears more than once")
            if line[0] in wanted:
                by_label[line[0]] = line
        missing = [w for w in wanted if w not in by_label]
        if missing:
            raise ReplyParseError(f"missing score line(s) for {', '.join(repr(m) for m in missing)}")
        picked = [by_label[w] for w in wanted]
    scores = []
    for label, raw, span in picked:
        if not re.fullmatch(r"[+-]?\d+", raw):
            raise ReplyParseError(f"score for {label!r} is {raw!r}, expected an integer {low}-{high}")
        value = int(raw)
        if not low <= value <= high:
            raise ReplyParseError(f"score for {label!r} is {value}, outside {low}-{high}")
        scores.append(LabelledScore(label, value, span))
    return scores


def json_object(text: str) -> dict:
    """The one JSON object in a reply (optionally inside a ```json fence)."""
    fence = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.DOTALL)
    candidate = fence.group(1) if fence else None
    if candidate is None:
        start, end = text.find("{"), text.rfind("}")
        if start < 0:
            raise ReplyParseError("no JSON object in the reply")
        if end < start:
            raise ReplyParseError("invalid JSON: the object is never closed (truncated reply?)")
        candidate = text[start : end + 1]
    try:
        obj = json.loads(candidate)
    except json.JSONDecodeError as e:
        raise ReplyParseError(f"invalid JSON ({e.msg} at char {e.pos})") from None
    if not isinstance(obj, dict):
        raise ReplyParseError("the reply's JSON is not an object")
    return obj


def parse_json_score_list(text: str, count: int, low: float, high: float) -> list[float]:
    """The ``"score": [...]`` list of a VIEScore-style JSON reply.

    The list must hold exactly ``count`` finite numbers in ``[low, high]`` (booleans and numeric
    strings are refused). Key lookup is case-insensitive (``"Score"`` is accepted).
    """
    obj = json_object(text)
    keys = [k for k in obj if isinstance(k, str) and k.strip().lower() == "score"]
    if len(keys) != 1:
        raise ReplyParseError("the reply's JSON has no single 'score' field")
    raw = obj[keys[0]]
    if not isinstance(raw, list):
        raise ReplyParseError(f"'score' is {type(raw).__name__}, expected a list of {count} numbers")
    if len(raw) != count:
        raise ReplyParseError(f"'score' has {len(raw)} values, expected {count}")
    out = []
    for v in raw:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ReplyParseError(f"'score' value {v!r} is not a number")
        if not low <= v <= high:
            raise ReplyParseError(f"'score' value {v} outside {low}-{high}")
        out.append(float(v))
    return out


def expected_digit_score(top: dict[str, float], low: int, high: int) -> float:
    """Expected score ``Σ_d p(d)·d / Σ_d p(d)`` over the digit tokens ``low..high`` in ``top``.

    ``top`` maps token text to log-probability; tokens are compared after stripping whitespace,
    and several spellings of one digit (``"4"``, ``" 4"``) add up. Raises when no digit of the
    range is among the alternatives (the probability mass is then unknown, not zero).
    Example: ``{"4": log .75, "3": log .25}`` on 0–5 gives 3.75.
    """
    if high > 9 or low < 0:
        raise ValueError("expected_digit_score handles single-digit scales only")
    mass = {d: 0.0 for d in range(low, high + 1)}
    for token, logprob in top.items():
        t = token.strip()
        if len(t) == 1 and t.isdigit() and low <= int(t) <= high and math.isfinite(logprob):
            mass[int(t)] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0.0:
        raise ReplyParseError(f"no digit {low}-{high} among the top log-probabilities {sorted(top)}")
    return sum(d * p for d, p in mass.items()) / total


def token_at(tokens: Sequence[TokenLogprobs], span: tuple[int, int], text: str) -> TokenLogprobs:
    """The generated token whose text covers ``text[span[0]:span[1]]`` exactly (up to whitespace).

    The tokens' texts must concatenate to ``text``; a score spread over several tokens (e.g. a
    tokenizer that merges ``"4\\n"``) cannot be read from log-probabilities and raises.
    """
    joined = "".join(t.token for t in tokens)
    if joined != text:
        raise ReplyParseError("the log-probability tokens do not spell the reply text")
    pos = 0
    for tok in tokens:
        start, end = pos, pos + len(tok.token)
        pos = end
        if start <= span[0] < end:
            stripped_start = start + (len(tok.token) - len(tok.token.lstrip()))
            stripped_end = start + len(tok.token.rstrip())
            if (stripped_start, stripped_end) != span:
                raise ReplyParseError(f"score {text[span[0] : span[1]]!r} is not a token of its own")
            return tok
    raise ReplyParseError("score position is outside the generated tokens")
