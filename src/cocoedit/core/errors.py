"""The one base class of the errors cocoedit raises for bad input or an unusable environment.

Every error a user can cause or fix (a bad file, key, value or server) derives from
:class:`CocoEditError`; the command line prints those as one line and exits with status 2. Any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class CocoEditError(Exception):
    """A problem with the input or the environment, described in words that name it."""
