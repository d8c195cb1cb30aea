"""The one progress helper of the command line: live bars on a terminal, plain log lines otherwise.

On a terminal every task is a rich progress bar. When stderr is not a terminal (a SLURM or nohup
log, ``> file``) each task writes one line through the ``cocoedit`` logger at most every
``log_interval_s`` seconds, and a last line with the final count when the display closes (a task
without a known total, such as ``data import``, included): done/total, rate, ETA and a status text.
Rates and ETAs are measured from the first item done, not from the start: the first item often
carries the start-up (a model loading), and one item in a few microseconds is no rate. Items found
done before the work starts (a re-run's finished outputs, a resumed run's steps) are counted with
:meth:`ProgressTask.already_done`: in the count, not in the rate, and named on every line. Only
rank 0 of a distributed launch shows anything.
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
        self.skipped, self.skipped_why = 0, ""
        self.status = ""
        self.log_interval_s = log_interval_s
        self._start = time.monotonic()
        self._first: tuple[float, int] | None = None  # (time, count) when the first item was done
        self._last_log = -float("inf")
        self._logged: int | None = None  # the count of the last line written
        self._bar_id = display._add_bar(description, total)

    def already_done(self, n: int, why: str = "already done") -> None:
        """Count ``n`` items that were done before this command started (``why`` says how): they
        are in the count, never in the rate or the ETA, and every line names them."""
        if n <= 0:
            return
        self.completed += n
        self.skipped += n
        self.skipped_why = why
        self.display._restart(self)

    def advance(self, n: int = 1, status: str | None = None) -> None:
        self.update(completed=self.completed + n, status=status)

    def update(self, completed: int | None = None, total: int | None = None, status: str | None = None) -> None:
        if completed is not None:
            self.completed = completed
            if self._first is None and completed > self.skipped:
                self._first = (time.monotonic(), completed)
        if total is not None:
            self.total = total
        if status is not None:
            self.status = status
        self.display._refresh(self)

    def rate(self) -> float | None:
        """Items per second since the first item was done; ``None`` before a second one."""
        if self._first is None:
            return None
        since, first_count = self._first
        elapsed = time.monotonic() - since
        if self.completed <= first_count or elapsed <= 0:
            return None
        return (self.completed - first_count) / elapsed

    def line(self, final: bool = False) -> str:
        """``description: done/total (pct) rate ETA | status``, as written to logs; ``final``: the
        last line, ``done in`` the whole time."""
        elapsed = time.monotonic() - self._start
        rate = self.rate()
        per_item = self.unit[:-1] if self.unit.endswith("s") else self.unit
        unit = per_item if self.completed == 1 and not self.total else self.unit  # "1 row", "1/4 steps"
        parts = [f"{self.description}: {self.completed}" + (f"/{self.total}" if self.total else "") + f" {unit}"]
        if self.total:
            parts.append(f"({100 * self.completed / self.total:.0f}%)")
        if rate is not None:
            parts.append(f"{rate:.2f} {self.unit}/s" if rate >= 0.1 else f"{1 / rate:.1f} s per {per_item}")
        finished = final or (self.total is not None and self.completed >= self.total)
        if finished:
            parts.append(f"done in {_duration(elapsed)}")
        elif self.total and rate is not None:
            parts.append(f"ETA {_duration((self.total - self.completed) / rate)}")
        if self.skipped:
            parts.append(f"({self.skipped} {self.skipped_why})")
        line = " ".join(p for p in parts if p)
        return f"{line} | {self.status}" if self.status else line


class ProgressDisplay:
    """Holds the tasks of one command (see :func:`progress_display`)."""

    def __init__(self, live: bool, enabled: bool):
        self.live, self.enabled = live and enabled, enabled
        self._bars = None
        self._tasks: list[ProgressTask] = []
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
        task = ProgressTask(self, description, total, unit, log_interval_s)
        self._tasks.append(task)
        return task

    def _add_bar(self, description: str, total: int | None):
        return self._bars.add_task(description, total=total, status="") if self._bars is not None else None

    def _restart(self, task: ProgressTask) -> None:
        """A task's count set before its work starts: the bar's rate starts afresh from it."""
        if self.enabled and self._bars is not None:
            self._bars.reset(task._bar_id, total=task.total, completed=task.completed, status=task.status)
        else:
            self._refresh(task)

    def _refresh(self, task: ProgressTask) -> None:
        if not self.enabled:
            return
        if self._bars is not None:
            self._bars.update(task._bar_id, completed=task.completed, total=task.total, status=task.status)
            return
        now = time.monotonic()
        finished = task.total is not None and task.completed >= task.total
        if finished or now - task._last_log >= task.log_interval_s:
            self._log(task)

    def _log(self, task: ProgressTask, final: bool = False) -> None:
        task._last_log = time.monotonic()
        task._logged = task.completed
        logger.info(task.line(final))

    def close(self) -> None:
        """Off a terminal: a last line for every task whose count changed since its last line."""
        if not self.enabled or self._bars is not None:
            return
        for task in self._tasks:
            if task._logged != task.completed:
                self._log(task, final=True)


@contextmanager
def progress_display() -> Iterator[ProgressDisplay]:
    """A display for one or more tasks: bars on a terminal, log lines otherwise."""
    display = ProgressDisplay(live=interactive(), enabled=is_main_process())
    if display._bars is None:
        yield display
        display.close()  # not when the command failed: its error is the last line
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
