"""Checkpoints that are written atomically, pruned safely and resumed exactly.

Layout: ``<run_dir>/checkpoints/step-000030/`` holding whatever the trainer writes into it
(adapters, optimizer, RNG states of every rank, ban list, ...) plus ``checkpoint.json`` (step and
validation score). A checkpoint folder is first written under a hidden temporary name and renamed
when complete, so a crash mid-save never leaves a folder that looks finished. The last
``keep_last`` checkpoints are kept, and the best one by validation score if scores are given.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cocoedit.core.errors import CocoEditError


class RunError(CocoEditError):
    """A run folder cannot be started or resumed as asked (the message says why)."""


_NAME = re.compile(r"^step-(\d{6,})$")
META = "checkpoint.json"


def checkpoint_name(step: int) -> str:
    return f"step-{step:06d}"


def list_checkpoints(checkpoints_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints as ``(step, path)``, oldest first; temporary folders are ignored."""
    d = Path(checkpoints_dir)
    if not d.is_dir():
        return []
    found = []
    for p in d.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir() and (p / META).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(checkpoints_dir: str | Path) -> Path | None:
    found = list_checkpoints(checkpoints_dir)
    return found[-1][1] if found else None


def read_checkpoint_meta(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / META).read_text(encoding="utf-8"))


def save_checkpoint(
    checkpoints_dir: str | Path,
    step: int,
    write: Callable[[Path], None],
    keep_last: int = 3,
    score: float | None = None,
    higher_is_better: bool = True,
) -> Path:
    """Call ``write(tmp_folder)``, then publish it as ``step-NNNNNN`` and prune old checkpoints."""
    if keep_last < 1:
        raise ValueError(f"keep_last must be >= 1, got {keep_last}")
    d = Path(checkpoints_dir)
    d.mkdir(parents=True, exist_ok=True)
    final = d / checkpoint_name(step)
    tmp = d / f".tmp-{checkpoint_name(step)}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        write(tmp)
        meta = {"step": step, "score": score, "higher_is_better": higher_is_better}
        (tmp / META).write_text(json.dumps(meta), encoding="utf-8")
        if final.exists():  # re-saving a step (after a resume): replace it as a whole
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(d, keep_last)
    return final


def best_checkpoint(checkpoints_dir: str | Path) -> Path | None:
    """The checkpoint with the best validation score, or None when none has a score."""
    scored = []
    for step, path in list_checkpoints(checkpoints_dir):
        meta = read_checkpoint_meta(path)
        if meta.get("score") is not None:
            sign = 1.0 if meta.get("higher_is_better", True) else -1.0
            scored.append((sign * meta["score"], step, path))
    return max(scored)[2] if scored else None


def _prune(d: Path, keep_last: int) -> None:
    found = list_checkpoints(d)
    best = best_checkpoint(d)
    for _, path in found[:-keep_last]:
        if path != best:
            shutil.rmtree(path)


def capture_rng_state() -> dict[str, Any]:
    """The random states of python, numpy and torch (CPU and every CUDA device)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_differences(saved: dict[str, Any], current: dict[str, Any], may_change: Iterable[str] = ()) -> list[str]:
    """Dotted keys whose values differ between two config dicts, except those in ``may_change``
    (a key or a prefix ending in ``.``), formatted as ``key: saved -> current``."""
    allowed = tuple(may_change)
    a, b = _flatten(saved), _flatten(current)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if any(key == p or (p.endswith(".") and key.startswith(p)) for p in allowed):
            continue
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            diffs.append(f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
    return diffs
