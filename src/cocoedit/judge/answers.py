"""Reading what a chat-completions server sent: :func:`reply_from_completion` turns the decoded JSON
body into a :class:`JudgeReply`, checking only the fields the judge uses, so that a malformed
answer fails with the field named (:class:`AnswerError`) instead of becoming a half-empty reply;
:func:`error_detail` is the server's own explanation of an error answer."""

from __future__ import annotations

from dataclasses import dataclass

import openai

from cocoedit.judge.parsing import TokenLogprobs


class AnswerError(Exception):
    """The answer lacks or mistypes a field (``bad_response``) or has no choice (``empty_response``)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class JudgeReply:
    """What the judge said: its text and, when requested, per-token top log-probabilities."""

    text: str
    tokens: tuple[TokenLogprobs, ...] | None
    finish_reason: str | None


def _field(container: object, name: str, kind: type | tuple[type, ...], where: str, optional: bool = False):
    """``container[name]`` checked to be a ``kind``; an :class:`AnswerError` naming the field if not.

    ``optional`` fields may be missing or null (then None is returned).
    """
    value = container.get(name) if isinstance(container, dict) else None
    if value is None:
        if optional:
            return None
        raise AnswerError("bad_response", f"the judge's answer has no {where}{name}")
    if not isinstance(value, kind):
        expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise AnswerError(
            "bad_response", f"the judge's answer has {where}{name} of type {type(value).__name__}, expected {expected}"
        )
    return value


def reply_from_completion(completion: object) -> JudgeReply:
    """The :class:`JudgeReply` in a decoded chat-completions answer.

    Only the fields the judge uses are read and type-checked: ``choices[0].message.content``,
    ``finish_reason`` and, when present, ``logprobs.content[].token/top_logprobs[].token/logprob``.
    A missing or mistyped one raises :class:`AnswerError` (``bad_response``) naming it; no choice
    at all is ``empty_response``.
    """
    if not isinstance(completion, dict):
        raise AnswerError("bad_response", f"the judge's answer is a JSON {type(completion).__name__}, not an object")
    choices = _field(completion, "choices", list, "")
    if not choices:
        raise AnswerError("empty_response", "the judge returned no choices")
    message = _field(choices[0], "message", dict, "choices[0].")
    text = _field(message, "content", str, "choices[0].message.", optional=True) or ""
    finish_reason = _field(choices[0], "finish_reason", str, "choices[0].", optional=True)
    logprobs = _field(choices[0], "logprobs", dict, "choices[0].", optional=True)
    content = _field(logprobs, "content", list, "choices[0].logprobs.", optional=True) if logprobs else None
    tokens = None
    if content:
        tokens = []
        for i, entry in enumerate(content):
            where = f"choices[0].logprobs.content[{i}]."
            top = {}
            for j, alt in enumerate(_field(entry, "top_logprobs", list, where, optional=True) or ()):
                alt_where = f"{where}top_logprobs[{j}]."
                top[_field(alt, "token", str, alt_where)] = float(_field(alt, "logprob", (int, float), alt_where))
            tokens.append(TokenLogprobs(_field(entry, "token", str, where), top))
        tokens = tuple(tokens)
    return JudgeReply(text, tokens, finish_reason)


def retry_after(headers) -> float | None:
    """``Retry-After`` in seconds, or None when absent or not a number (the HTTP-date form)."""
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def error_detail(error: openai.APIStatusError) -> str:
    """The ``error.message`` of an OpenAI-style error body, or the start of whatever was sent."""
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner.get("message"), str):
            return inner["message"]
    text = error.response.text if error.response is not None else ""
    return text[:200] or "(empty body)"
