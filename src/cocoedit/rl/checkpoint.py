"""Checkpoints that are written atomically, pruned safely and resumed exactly, without pickle.

Layout: ``<run_dir>/checkpoints/step-000030/`` holding ``trainer_state.safetensors`` (the current
and old adapters, the optimizer's tensors, every rank's torch RNG state), ``trainer_state.json``
(step, ban list, optimizer hyper-parameters, python and numpy RNG states), the current adapter in
diffusers format (``lora/``) and ``checkpoint.json`` (step and validation score). Nothing is
unpickled on resume, so a checkpoint from elsewhere cannot run code. A checkpoint folder is first
written under a hidden temporary name and renamed when complete, so a crash mid-save never leaves
a folder that looks finished. Removing one (pruning, or replacing a step saved again) first
renames it to a hidden trash name, then deletes it, so a kill mid-delete never leaves a
half-deleted ``step-*`` folder; :func:`remove_partial_checkpoints` deletes what a crash left
(temporary and trash folders, and a ``step-*`` folder without its ``checkpoint.json``, which only an
interrupted delete of an earlier version makes). The last ``keep_last`` checkpoints are kept, and
the best one by validation score if scores are given.
What a run trains on is recorded by :mod:`cocoedit.rl.fingerprint`.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cocoedit.core.errors import CocoEditError


class RunError(CocoEditError):
    """A run folder cannot be started or resumed as asked (the message says why)."""


_NAME = re.compile(r"^step-(\d{6,})$")
META = "checkpoint.json"
STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"
_TMP_PREFIX = ".tmp-step-"
_TRASH_PREFIX = ".trash-step-"


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
    tmp = d / f"{_TMP_PREFIX}{step:06d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        write(tmp)
        meta = {"step": step, "score": score, "higher_is_better": higher_is_better}
        (tmp / META).write_text(json.dumps(meta), encoding="utf-8")
        if final.exists():  # re-saving a step (after a resume): replace it as a whole
            _delete_checkpoint(final)
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


def _delete_checkpoint(path: Path) -> None:
    """Remove a checkpoint folder atomically: one rename takes it out of the ``step-*`` names,
    then the trash folder is deleted (what a kill leaves is a trash folder, removed on resume)."""
    trash = path.with_name(f"{_TRASH_PREFIX}{path.name.removeprefix('step-')}-{os.getpid()}")
    os.replace(path, trash)
    shutil.rmtree(trash)


def _prune(d: Path, keep_last: int) -> None:
    found = list_checkpoints(d)
    best = best_checkpoint(d)
    for _, path in found[:-keep_last]:
        if path != best:
            _delete_checkpoint(path)


def remove_partial_checkpoints(checkpoints_dir: str | Path) -> list[Path]:
    """Delete what a crash left behind: a save's temporary folder, a removal's trash folder, and a
    ``step-*`` folder without its ``checkpoint.json`` (half deleted by an earlier version, which
    removed checkpoints in place); return what was deleted."""
    d = Path(checkpoints_dir)
    if not d.is_dir():
        return []
    removed = [p for p in d.iterdir() if p.is_dir() and p.name.startswith((_TMP_PREFIX, _TRASH_PREFIX))]
    removed += [p for p in d.iterdir() if _NAME.match(p.name) and p.is_dir() and not (p / META).is_file()]
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed


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


@dataclass
class TrainerState:
    """What a resumed run needs: adapters by parameter name, the optimizer's full state dict (as
    ``torch.distributed.checkpoint.state_dict.get_optimizer_state_dict`` gives it, keyed by
    parameter name), the step, the ban list and every rank's RNG states."""

    step: int
    banned: list[int]
    current: dict[str, torch.Tensor]
    old: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng: list[dict[str, Any]]


def _rng_to_json(state: dict[str, Any], rank: int, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    version, internal, gauss = state["python"]
    name, keys, pos, has_gauss, cached = state["numpy"]
    tensors[f"rng/{rank}/torch"] = state["torch"]
    for i, t in enumerate(state.get("cuda", [])):
        tensors[f"rng/{rank}/cuda/{i}"] = t
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "cuda_devices": len(state.get("cuda", [])),
    }


def _rng_from_json(data: dict[str, Any], rank: int, tensors: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    version, internal, gauss = data["python"]
    name, keys, pos, has_gauss, cached = data["numpy"]
    state = {
        "python": (version, tuple(internal), gauss),
        "numpy": (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached),
        "torch": tensors[f"rng/{rank}/torch"],
    }
    if data["cuda_devices"]:
        state["cuda"] = [tensors[f"rng/{rank}/cuda/{i}"] for i in range(data["cuda_devices"])]
    return state


def _lora_parameters(transformer: torch.nn.Module, adapter: str) -> dict[str, torch.nn.Parameter]:
    """The LoRA parameters of ``adapter``, keyed by name with the adapter's name left out (so the
    current and old adapters share keys)."""
    tag = f".{adapter}."
    return {n.replace(tag, ".<adapter>."): p for n, p in transformer.named_parameters() if "lora_" in n and tag in n}


def capture_trainer_state(
    transformer: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    current: str,
    old: str,
    step: int,
    banned: Iterable[int],
    rng: list[dict[str, Any]],
) -> TrainerState:
    """The state of a run, with whole tensors on the CPU (gathers shards: a collective)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    def whole(t: torch.Tensor) -> torch.Tensor:
        t = t.detach()
        return (t.full_tensor() if hasattr(t, "full_tensor") else t).cpu()

    return TrainerState(
        step=step,
        banned=sorted(banned),
        current={n: whole(p) for n, p in _lora_parameters(transformer, current).items()},
        old={n: whole(p) for n, p in _lora_parameters(transformer, old).items()},
        optimizer=get_optimizer_state_dict(
            transformer, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
        ),
        rng=rng,
    )


def restore_trainer_state(
    state: TrainerState, transformer: torch.nn.Module, optimizer: torch.optim.Optimizer, current: str, old: str
) -> None:
    """Load the adapters and the optimizer of ``state`` (sharded again where the model is)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    with torch.no_grad():
        for adapter, saved in ((current, state.current), (old, state.old)):
            params = _lora_parameters(transformer, adapter)
            if set(params) != set(saved):
                raise RunError(
                    f"the checkpoint's {adapter!r} adapter does not match the model's LoRA modules "
                    f"(e.g. {sorted(set(params) ^ set(saved))[:2]}): other lora_rank / lora_targets?"
                )
            for n, p in params.items():
                p.copy_(_like(p, saved[n]))
    set_optimizer_state_dict(transformer, optimizer, state.optimizer, options=StateDictOptions(full_state_dict=True))


def _like(param: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    """``whole`` laid out like ``param``: sharded the same way when ``param`` is a DTensor."""
    if hasattr(param, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(
            whole.to(param.device_mesh.device_type, param.dtype), param.device_mesh, param.placements
        )
    return whole.to(device=param.device, dtype=param.dtype)


def write_trainer_state(folder: str | Path, state: TrainerState) -> None:
    """Write ``state`` as ``trainer_state.safetensors`` + ``trainer_state.json`` in ``folder``."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for prefix, params in (("current", state.current), ("old", state.old)):
        tensors.update({f"{prefix}/{n}": t for n, t in params.items()})
    moments: dict[str, dict[str, Any]] = {}
    for param, fields in state.optimizer["state"].items():
        moments[param] = {}
        for field, value in fields.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{param}/{field}"] = value
            else:
                moments[param][field] = value
    rng = [_rng_to_json(r, rank, tensors) for rank, r in enumerate(state.rng)]
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(Path(folder) / STATE_TENSORS))
    meta = {
        "step": state.step,
        "banned": sorted(state.banned),
        "optimizer_scalars": moments,
        "optimizer_param_groups": state.optimizer["param_groups"],
        "rng": rng,
        "current": list(state.current),
        "old": list(state.old),
    }
    (Path(folder) / STATE_JSON).write_text(json.dumps(meta), encoding="utf-8")


def read_trainer_state(folder: str | Path) -> TrainerState:
    """The :class:`TrainerState` of a checkpoint folder (no pickle involved)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        meta = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / STATE_TENSORS))
    except (OSError, ValueError) as e:
        raise RunError(f"{folder}: not a readable checkpoint ({e})") from None
    optimizer_state: dict[str, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            param, field = key[len("optimizer/") :].rsplit("/", 1)
            optimizer_state.setdefault(param, {})[field] = value
    for param, scalars in meta["optimizer_scalars"].items():
        optimizer_state.setdefault(param, {}).update(scalars)
    return TrainerState(
        step=meta["step"],
        banned=list(meta["banned"]),
        current={n: tensors[f"current/{n}"] for n in meta["current"]},
        old={n: tensors[f"old/{n}"] for n in meta["old"]},
        optimizer={"state": optimizer_state, "param_groups": meta["optimizer_param_groups"]},
        rng=[_rng_from_json(r, rank, tensors) for rank, r in enumerate(meta["rng"])],
    )
