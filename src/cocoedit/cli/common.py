"""What every command shares: the error policy, the console, option types, logging set-up.

Errors a user can fix derive from :class:`~cocoedit.core.errors.CocoEditError`; the command group
prints them as one line (``error: ...``) and exits with status 2. Any other exception is a bug and
keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import Enum

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from cocoedit.core.errors import CocoEditError

console = Console(stderr=True)
LOGGER_NAME = "cocoedit"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; return the exit to raise."""
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


class CocoEditGroup(TyperGroup):
    """A command group that turns :class:`CocoEditError` into a one-line error and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CocoEditError as e:
            raise fail(str(e)) from None


def is_main_process() -> bool:
    """False on every process but rank 0 of a distributed launch (torchrun, accelerate)."""
    return int(os.environ.get("RANK", "0")) == 0


def interactive() -> bool:
    """Whether progress can be drawn as live bars (stderr is a terminal)."""
    return sys.stderr.isatty()


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted (test
    runners and notebooks swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the base class assigns one; it is not kept
        pass


def setup_logging() -> None:
    """The ``cocoedit`` logger on stderr: through rich on a terminal, plain timestamped lines
    otherwise (batch jobs, ``> file``); only rank 0 logs below warnings."""
    logger = logging.getLogger(LOGGER_NAME)
    if logger.handlers:
        return
    if interactive():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=console, show_path=False, show_time=False)
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if is_main_process() else logging.WARNING)
    logger.propagate = False


class Bench(str, Enum):
    gedit = "gedit"
    imgedit = "imgedit"


def parse_size(size: str | None) -> tuple[int, int] | None:
    """``N`` or ``HxW`` -> ``(height, width)``."""
    if size is None:
        return None
    parts = size.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise typer.BadParameter(f"--size {size!r}: expected N or HxW, e.g. 512 or 512x768") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) <= 0:
        raise typer.BadParameter(f"--size {size!r}: expected N or HxW with positive numbers")
    return values[0], values[1]
