"""The one progress helper of the command line: live bars on a terminal, plain log lines otherwise.

On a terminal every task is a rich progress bar. When stderr is not a terminal (a SLURM or nohup
log, ``> file``) each task writes one line through the ``cocoedit`` logger at most every
``log_interval_s`` seconds and when it finishes: done/total, rate, ETA and a status text. Only rank
0 of a distributed launch shows anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from cocoedit.cli.common import LOGGER_NAME, console, interactive, is_main_process

logger = logging.getLogger(LOGGER_NAME)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressTask:
    """One task: call :meth:`advance` or :meth:`update` as work gets done."""

    def __init__(self, display: ProgressDisplay, description: str, total: int | None, unit: str, log_interval_s: float):
        self.display, self.description, self.total, self.unit = display, description, total, unit
        self.completed = 0
        self.status = ""
        self.log_interval_s = log_interval_s
        self._start = time.monotonic()
        self._last_log = -float("inf")
        self._bar_id = display._add_bar(description, total)

    def advance(self, n: int = 1, status: str | None = None) -> None:
        self.update(completed=self.completed + n, status=status)

    def update(self, completed: int | None = None, total: int | None = None, status: str | None = None) -> None:
        if completed is not None:
            self.completed = completed
        if total is not None:
            self.total = total
        if status is not None:
            self.status = status
        self.display._refresh(self)

    def line(self) -> str:
        """``description: done/total (pct) rate ETA | status``, as written to logs."""
        elapsed = time.monotonic() - self._start
        rate = self.completed / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.description}: {self.completed}" + (f"/{self.total}" if self.total else "") + f" {self.unit}"]
        if self.total:
            parts.append(f"({100 * self.completed / self.total:.0f}%)")
        per_item = self.unit[:-1] if self.unit.endswith("s") else self.unit
        parts.append(f"{rate:.2f} {self.unit}/s" if rate >= 0.1 else f"{1 / rate:.1f} s per {per_item}" if rate else "")
        if self.total and rate > 0 and self.completed < self.total:
            parts.append(f"ETA {_duration((self.total - self.completed) / rate)}")
        elif self.total and self.completed >= self.total:
            parts.append(f"done in {_duration(elapsed)}")
        line = " ".join(p for p in parts if p)
        return f"{line} | {self.status}" if self.status else line


class ProgressDisplay:
    """Holds the tasks of one command (see :func:`progress_display`)."""

    def __init__(self, live: bool, enabled: bool):
        self.live, self.enabled = live and enabled, enabled
        self._bars = None
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bars = Progress(
                TextColumn("{task.description:<14}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=console,
            )

    def task(
        self, description: str, total: int | None = None, unit: str = "it", log_interval_s: float = 10.0
    ) -> ProgressTask:
        """A new task; without a terminal it logs at most every ``log_interval_s`` (0: every update)."""
        return ProgressTask(self, description, total, unit, log_interval_s)

    def _add_bar(self, description: str, total: int | None):
        return self._bars.add_task(description, total=total, status="") if self._bars is not None else None

    def _refresh(self, task: ProgressTask) -> None:
        if not self.enabled:
            return
        if self._bars is not None:
            self._bars.update(task._bar_id, completed=task.completed, total=task.total, status=task.status)
            return
        now = time.monotonic()
        finished = task.total is not None and task.completed >= task.total
        if finished or now - task._last_log >= task.log_interval_s:
            task._last_log = now
            logger.info(task.line())


@contextmanager
def progress_display() -> Iterator[ProgressDisplay]:
    """A display for one or more tasks: bars on a terminal, log lines otherwise."""
    display = ProgressDisplay(live=interactive(), enabled=is_main_process())
    if display._bars is None:
        yield display
        return
    with display._bars:
        yield display


@contextmanager
def progress(
    description: str, total: int | None = None, unit: str = "it", log_interval_s: float = 10.0
) -> Iterator[ProgressTask]:
    """A display with one task."""
    with progress_display() as display:
        yield display.task(description, total, unit, log_interval_s)
