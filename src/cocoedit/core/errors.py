"""The one base class of the errors cocoedit raises for bad input or an unusable environment.

Every error a user can cause or fix (a bad file, key, value or server) derives from
:class:`CocoEditError`; the command line prints those as one line and exits with status 2. Any
other exception is a bug and keeps its traceback. :class:`ServiceUnavailableError` is the one
kind callers tell apart: a service that cannot be used at all, as opposed to one bad answer.
"""

from __future__ import annotations


class CocoEditError(Exception):
    """A problem with the input or the environment, described in words that name it."""


class ServiceUnavailableError(CocoEditError):
    """A service the work depends on cannot be used at all: a judge or reward server that cannot be
    reached, rejects the key or does not serve the model. No retry of the one request can help, so
    a training run stops after a checkpoint of its last completed step (``--resume`` continues once
    the service is back). The judge's errors derive from it; a custom reward raises it to stop a
    run the same way."""
