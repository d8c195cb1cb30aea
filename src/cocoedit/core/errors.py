"""The one base class of the errors cocoedit raises for bad input or an unusable environment.

Every error a user can cause or fix (a bad file, key, value or server) derives from
:class:`CocoEditError`; the command line prints those as one line and exits with status 2. Any
other exception is a bug and keeps its traceback. :class:`ServiceUnavailableError` is the one
kind callers tell apart: a service that cannot be used at all, as opposed to one bad answer.
:func:`explain_failures` is what every stop on too many per-sample failures shows besides their
counts (the training reward, ``cocoedit data build``): the last explanation a server gave and one
unparsable reply.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The reason of a judge reply that did not parse (callers may prefix it: ``grounding_unparsable``).
UNPARSABLE = "unparsable"


class CocoEditError(Exception):
    """A problem with the input or the environment, described in words that name it."""


class ServiceUnavailableError(CocoEditError):
    """A service the work depends on cannot be used at all: a judge or reward server that cannot be
    reached, rejects the key or does not serve the model. No retry of the one request can help, so
    a training run stops after a checkpoint of its last completed step (``--resume`` continues once
    the service is back). The judge's errors derive from it; a custom reward raises it to stop a
    run the same way."""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def explain_failures(failures: Iterable[tuple[str, str | None]]) -> str:
    """``. Last explanation: ...; one unparsable reply: ...`` from the ``(reason, detail)`` pairs of
    failed samples in order: the last detail of a failure other than an unparsable reply (an HTTP
    error's text, a timeout) and the first detail of an unparsable one (a reason ending in
    :data:`UNPARSABLE`), each squeezed to one line of at most 300 characters and each only when
    there is one; ``""`` when no failure has a detail."""
    with_detail = [(reason, detail) for reason, detail in failures if detail]
    said = [detail for reason, detail in with_detail if not reason.endswith(UNPARSABLE)]
    unparsable = [detail for reason, detail in with_detail if reason.endswith(UNPARSABLE)]
    parts = ([f"last explanation: {_one_line(said[-1])}"] if said else []) + (
        [f"one unparsable reply: {_one_line(unparsable[0])}"] if unparsable else []
    )
    text = "; ".join(parts)
    return ". " + text[:1].upper() + text[1:] if parts else ""
