"""What every command shares: the error policy, the console, option types, logging set-up.

Errors a user can fix derive from :class:`~cocoedit.core.errors.CocoEditError`; the command group
prints them as one line (``error: ...``) and exits with status 2, as it does for a usage mistake
(a missing or unknown option, a bad value: ``error: ... (cocoedit CMD --help)``) and for a full
disk. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sys
from enum import Enum

import click
import typer
from rich.console import Console
from typer.core import TyperGroup, TyperOption

from cocoedit.core.errors import CocoEditError

console = Console(stderr=True)
LOGGER_NAME = "cocoedit"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; return the exit to raise."""
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _click_classes(name: str) -> tuple[type, ...]:
    """Click's exception class ``name``, and its copy in typer when typer vendors click (0.2x)."""
    classes = [getattr(click.exceptions, name)]
    try:
        from typer._click import exceptions as vendored
    except ImportError:
        return tuple(classes)
    return (*classes, getattr(vendored, name))


_USAGE_ERRORS = _click_classes("UsageError")
_HELP_REQUESTS = _click_classes("NoArgsIsHelpError")
_EXITS = (click.exceptions.Exit, click.exceptions.Abort, typer.Exit, typer.Abort)
_BOOLEAN_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0"}


def disk_full(error: BaseException) -> OSError | None:
    """The "no space left on device" (or over quota) error behind ``error``, if that is what it
    is: the error itself or one it was raised from (torch and safetensors wrap them)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _DISK_FULL:
            return error
        if "No space left on device" in str(error) or "Disk quota exceeded" in str(error):
            return OSError(errno.ENOSPC, "No space left on device")
        if error.__cause__ is not None:
            error = error.__cause__
        else:  # ``raise ... from None`` hides the context: it was handled
            error = None if error.__suppress_context__ else error.__context__
    return None


def _usage_line(e: Exception) -> str:
    """A usage mistake as one line, with the command's ``--help`` to read."""
    message = e.format_message().strip().rstrip(".").removeprefix("Invalid value: ")
    extra = re.match(r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)", message)
    if extra and set(extra.group(1).lower().split()) <= _BOOLEAN_WORDS:
        message += (
            "; flags such as --resume take no value: give the flag alone to turn it on, leave it out to keep it off"
        )
    where = f" ({e.ctx.command_path} --help)" if e.ctx is not None else ""
    return message + where


class CocoEditGroup(TyperGroup):
    """A command group that turns :class:`CocoEditError`, usage mistakes and a full disk into a
    one-line error and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CocoEditError as e:
            raise fail(str(e)) from None
        except _HELP_REQUESTS:
            raise
        except _USAGE_ERRORS as e:
            raise fail(_usage_line(e)) from None
        except _EXITS:
            raise
        except Exception as e:
            full = disk_full(e)
            if full is None:
                raise
            target = full.filename2 or full.filename  # shutil's copies name the source first
            where = f" writing {target}" if target else ""
            raise fail(
                f"no space left on the device{where}: free some space, then run the same command again "
                "(what was finished is kept; nothing half-written is used)"
            ) from None


# typer labels every option with its type in --help, flags too (``--resume <bool>``), although a
# flag takes no value (``--resume true`` is refused): show flags without one.
_option_type_label = TyperOption.display_type_rich


def _flag_without_type_label(self: TyperOption, ctx: click.Context) -> str | None:
    return None if self.is_flag else _option_type_label(self, ctx)


TyperOption.display_type_rich = _flag_without_type_label


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


def setup_logging(verbose: bool = False) -> None:
    """The ``cocoedit`` logger on stderr: through rich on a terminal, plain timestamped lines
    otherwise (batch jobs, ``> file``); only rank 0 logs below warnings. The libraries' own
    warnings and progress bars only with ``verbose`` (:mod:`cocoedit.cli.quiet`)."""
    from cocoedit.cli.quiet import configure_third_party_output

    configure_third_party_output(verbose)
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
