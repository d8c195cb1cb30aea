"""A run folder's records: the resolved config, the run info, and what the run trains on.

When a run starts, ``config.yaml`` is written with every path made absolute (so ``--resume`` works
from any directory), ``run_info.json`` says what ran it, and ``fingerprint.json`` records the
manifests' content hashes and the model's identity (:func:`~cocoedit.rl.fingerprint.run_fingerprint`).
A resume refuses a config whose result-changing keys differ, and a changed manifest or model unless
the user accepts that change by name (``--accept-changed data`` / ``model``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import yaml
from pydantic import ValidationError

import cocoedit
from cocoedit.core.paths import write_text_atomic
from cocoedit.core.settings import read_yaml_mapping
from cocoedit.rewards.registry import BUILTIN_REWARDS, RewardComponent
from cocoedit.rl.checkpoint import RunError, latest_checkpoint
from cocoedit.rl.config import CocoEditConfig, resumable_changes
from cocoedit.rl.fingerprint import config_differences, fingerprint_differences, run_fingerprint
from cocoedit.rl.old_configs import upgrade_old_spellings

CONFIG = "config.yaml"
RUN_INFO = "run_info.json"
FINGERPRINT = "fingerprint.json"
CHANGE_KINDS = ("data", "model")


def absolute_config(config: CocoEditConfig) -> dict[str, Any]:
    """The config as a dict with its file paths absolute (a model path only when it exists
    locally: otherwise it is a hub id)."""
    data = config.model_dump(mode="json")
    model = Path(data["model"]["path"])
    if model.exists():
        data["model"]["path"] = str(model.resolve())
    for key in ("manifest", "validation_manifest"):
        if data["data"][key]:
            data["data"][key] = str(Path(data["data"][key]).resolve())
    for component in data["reward"]["components"]:
        factory = BUILTIN_REWARDS.get(component["function"] or component["name"])
        for key in factory.paths if factory else ():
            if component["options"].get(key):
                component["options"][key] = str(Path(component["options"][key]).resolve())
    return data


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A config dict in today's spellings (a run started by an earlier version wrote the old ones)
    with its reward components keyed by name, so a difference names the component."""
    config, _ = upgrade_old_spellings(config)
    reward = config.get("reward")
    if isinstance(reward, dict) and isinstance(reward.get("components"), list):
        by_name = {}
        for c in reward["components"]:
            try:  # every default written out, as today's records have them
                c = RewardComponent.model_validate(c).model_dump(mode="json")
            except ValidationError:
                pass  # compared as written: the difference is named
            if isinstance(c, dict):
                by_name[str(c.get("name"))] = {k: v for k, v in c.items() if k != "name"}
        config["reward"] = {**reward, "components": by_name}
    return config


def _git_commit() -> str | None:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(cocoedit.__file__).parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def _fingerprint(config: CocoEditConfig) -> dict[str, Any]:
    return run_fingerprint([config.data.manifest, config.data.validation_manifest], config.model.path)


def check_run_folder(run_dir: Path, resume: bool) -> None:
    """Before anything loads: a new run needs a folder without a checkpoint; a resume needs a run."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir}: --run-dir is a file, not a folder")
    if not resume and latest_checkpoint(run_dir / "checkpoints") is not None:
        raise RunError(f"{run_dir} already holds a run; pass --resume or choose another --run-dir")
    if resume and not (run_dir / CONFIG).is_file():
        raise RunError(f"{run_dir}: no {CONFIG}, so no run to resume; start one with --config")


def start_run(run_dir: Path, config: CocoEditConfig, world_size: int, backbone_kind: str) -> None:
    """Write the records of a new run. A folder with a checkpoint is refused; what a start that
    failed before its first checkpoint left (records, metrics, grids) is replaced, so the corrected
    command simply runs."""
    check_run_folder(run_dir, resume=False)
    for stale in ("metrics.jsonl", "tensorboard", "samples", "wandb_run_id"):
        path = run_dir / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "cocoedit_version": cocoedit.__version__,
        "git_commit": _git_commit(),
        "torch_version": torch.__version__,
        "world_size": world_size,
        "backbone": backbone_kind,
    }
    write_text_atomic(run_dir / RUN_INFO, json.dumps(info, indent=2))
    write_text_atomic(run_dir / FINGERPRINT, json.dumps(_fingerprint(config), indent=1))
    write_text_atomic(run_dir / CONFIG, yaml.safe_dump(absolute_config(config), sort_keys=False))


def check_resume(run_dir: Path, config: CocoEditConfig, accept_changed: Iterable[str] = (), write: bool = True) -> None:
    """Refuse to resume with other result-changing settings, or with a changed manifest or model
    unless accepted; with ``write`` (the main process), record the accepted change and the
    config's allowed changes."""
    path = run_dir / CONFIG
    if not path.is_file():
        raise RunError(f"{run_dir}: no {CONFIG}, so no run to resume; start one with --config")
    accept = set(accept_changed)
    unknown = accept - set(CHANGE_KINDS)
    if unknown:
        raise RunError(f"--accept-changed takes {' or '.join(CHANGE_KINDS)}, not {', '.join(sorted(unknown))}")
    saved = read_yaml_mapping(path, RunError)
    current = absolute_config(config)
    try:
        comparable = _comparable(saved)
    except ValueError as e:
        raise RunError(f"{path}: {e}") from None
    diffs = config_differences(comparable, _comparable(current), resumable_changes(config))
    if diffs:
        raise RunError("the config differs from the run being resumed in keys that change results: " + "; ".join(diffs))
    fingerprint_path = run_dir / FINGERPRINT
    now = _fingerprint(config)
    if fingerprint_path.is_file():
        changed = fingerprint_differences(json.loads(fingerprint_path.read_text(encoding="utf-8")), now)
        refused = {k: v for k, v in changed.items() if k not in accept}
        if refused:
            hints = " ".join(f"{v} (pass --accept-changed {k} to resume anyway)." for k, v in refused.items())
            raise RunError(f"{run_dir}: {hints}")
    if write:
        write_text_atomic(fingerprint_path, json.dumps(now, indent=1))
        write_text_atomic(path, yaml.safe_dump(current, sort_keys=False))
