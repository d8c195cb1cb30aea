"""Run logging: ``metrics.jsonl`` always, plus the trackers of ``train.report_to`` (TensorBoard,
wandb, both or neither).

``metrics.jsonl`` holds one JSON object per logged step (``{"step": N, "train/...": value}``); it
is what ``cocoedit report`` and the tests read, so it is written whatever the trackers.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from cocoedit.core.errors import CocoEditError
from cocoedit.core.optional import OPTIONAL, install_hint

logger = logging.getLogger("cocoedit.train")


class MetricsFileError(CocoEditError):
    """``metrics.jsonl`` holds a line that is not a metrics record."""


WANDB_RUN_ID = "wandb_run_id"


TRACKER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb"}


def check_trackers(trackers: Sequence[str]) -> None:
    """Refuse a tracker whose package is not installed, before anything slow happens."""
    import importlib.util

    for tracker in trackers:
        package = TRACKER_PACKAGES.get(tracker)
        if package is None:
            raise MetricsFileError(f"train.report_to: unknown tracker {tracker!r} (choose from tensorboard, wandb)")
        if importlib.util.find_spec(package) is None:
            others = [t for t in trackers if t != tracker]
            install = install_hint(package) if package in OPTIONAL else f"pip install {package}"
            raise MetricsFileError(
                f"train.report_to has {tracker} but the {package} package is not installed: {install}, "
                f"or set train.report_to to {others or []}"
            )


class RunLogger:
    """Writes a run's figures: ``metrics.jsonl`` always, plus each tracker of ``trackers``
    (``tensorboard``, ``wandb``). A wandb run's id is kept in the run folder (``wandb_run_id``), so
    a resumed training run logs into the same wandb run; ``wandb`` holds its project, entity, name
    and tags (``train.wandb``). ``WANDB_MODE=offline`` in the environment makes wandb write to the
    run folder only (``wandb sync`` uploads it later)."""

    def __init__(
        self,
        run_dir: str | Path,
        trackers: Sequence[str] = ("tensorboard",),
        config: dict[str, Any] | None = None,
        enabled: bool = True,
        wandb: dict[str, Any] | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._tb = None
        self._wandb = None
        if not enabled:
            return
        check_trackers(trackers)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8")
        try:
            if "tensorboard" in trackers:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            if "wandb" in trackers:
                self._wandb = _start_wandb(self.run_dir, config or {}, wandb or {})
        except BaseException:
            self.close()
            raise

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}
        self._jsonl.write(json.dumps({"step": step, **clean}) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(k, v, step)
        if self._wandb is not None:
            self._wandb.log(values, step=step)

    def log_image(self, step: int, name: str, image: torch.Tensor) -> None:
        """``image [3, H, W]`` in [0, 1]."""
        if not self.enabled:
            return
        if self._tb is not None:
            self._tb.add_image(name, image.clamp(0, 1), step)
        if self._wandb is not None:
            import wandb

            self._wandb.log({name: wandb.Image(image.permute(1, 2, 0).numpy())}, step=step)

    def close(self) -> None:
        if not self.enabled:
            return
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def _start_wandb(run_dir: Path, config: dict[str, Any], settings: dict[str, Any]) -> Any:
    """A wandb run in ``run_dir``, the same one again when the run folder names one."""
    import uuid

    import wandb

    id_file = run_dir / WANDB_RUN_ID
    run_id = id_file.read_text(encoding="utf-8").strip() if id_file.is_file() else uuid.uuid4().hex[:12]
    id_file.write_text(run_id, encoding="utf-8")
    given = {k: v for k, v in settings.items() if v not in (None, [])}
    return wandb.init(dir=str(run_dir), config=config, id=run_id, resume="allow", **given)


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of ``metrics.jsonl``; a step logged again after a resume replaces the earlier row.

    A last line cut off by a crash (no newline, not JSON) is skipped with a warning naming the file
    and line; a bad line anywhere else is an error naming its line number.
    """
    path = Path(run_dir) / "metrics.jsonl"
    rows: dict[int, dict[str, Any]] = {}
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        line = e.object[: e.start].count(b"\n") + 1
        raise MetricsFileError(f"{path}:{line}: not UTF-8 text (byte {e.object[e.start]:#04x})") from None
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            step = rec["step"]
            if not isinstance(step, int):
                raise TypeError(f"step is {step!r}, not an integer")
        except (ValueError, KeyError, TypeError) as e:
            if number == len(lines) and not text.endswith("\n"):
                logger.warning(
                    "%s:%d: skipped the last line, cut off mid-write (%d characters, not a metrics "
                    "record); the run was likely killed while logging",
                    path,
                    number,
                    len(line),
                )
                break
            raise MetricsFileError(f"{path}:{number}: not a metrics record ({e})") from None
        rows.setdefault(step, {}).update(rec)
    return [rows[k] for k in sorted(rows)]


def repair_metrics(run_dir: str | Path, last_step: int) -> None:
    """Before a resume from ``last_step``: drop a last line torn by a crash and the rows of steps
    after ``last_step`` (they are logged again), atomically."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]  # the torn part
    kept = []
    for line in lines:
        if not line.strip():
            continue
        try:
            step = json.loads(line)["step"]
        except (ValueError, KeyError, TypeError):
            continue
        if step <= last_step:
            kept.append(line)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    tmp.replace(path)
