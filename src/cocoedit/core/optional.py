"""Optional dependencies: the packages only some commands need, and the extra that installs each.

The core install (``pip install cocoedit``) trains, edits, evaluates and curates. What only the
rating app, the developer tools or some data formats use is an extra
(``pip install 'cocoedit[rate]'``); :func:`require` imports such a package, or raises a one-line
error naming the extra to install. ``pyproject.toml``'s ``[project.optional-dependencies]`` lists
the same packages (a test keeps the two in step).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from cocoedit.core.errors import CocoEditError

#: import name -> (distribution name, extra that installs it)
OPTIONAL = {
    "aiohttp": ("aiohttp", "rate"),
    "pyarrow": ("pyarrow", "curation"),
    "wandb": ("wandb", "wandb"),
    "skimage": ("scikit-image", "dev"),
    "playwright": ("playwright", "dev"),
}


class MissingExtraError(CocoEditError):
    """An optional package a command needs is not installed."""


def install_hint(module: str) -> str:
    """``pip install 'cocoedit[extra]'`` for an optional package's import name."""
    _, extra = OPTIONAL[module.split(".")[0]]
    return f"pip install 'cocoedit[{extra}]'"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (of a package in :data:`OPTIONAL`) for ``purpose`` (what needs it, as the
    user would say it), or :class:`MissingExtraError` naming the extra. A package that is installed
    but fails to import keeps its own error."""
    root = module.split(".")[0]
    distribution, _ = OPTIONAL[root]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] != root:
            raise
        raise MissingExtraError(
            f"{purpose} needs {distribution}, which is not installed: {install_hint(root)}"
        ) from None
