"""Tiny trainer set-ups: a tiny random backbone, the tiny training config, programmatic rewards.

Used by the trainer tests, the distributed worker script and the training benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cocoedit.rewards.base import RewardBatch
from cocoedit.rl.config import CocoEditConfig, load_config


def tiny_backbone(kind: str):
    from cocoedit.models.registry import wrap_pipeline
    from cocoedit.testing.stock import TINY_OPTIONS
    from cocoedit.testing.tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline(kind)
    pipe.set_progress_bar_config(disable=True)
    return wrap_pipeline(pipe, **TINY_OPTIONS.get(kind, {}))


#: Backbone options of the tiny pipelines (:mod:`cocoedit.testing.tiny`) by kind.
TINY_OPTIONS = {"kontext": {"max_sequence_length": 48}, "qwen-image-edit-plus": {"condition_area": 56 * 56}}


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _apply(config: dict[str, Any], sections: dict[str, Any]) -> dict[str, Any]:
    reward = sections.get("reward")
    if isinstance(reward, dict) and {"weights", "functions", "options"} & set(reward):  # the old form
        config = {**config, "reward": {k: v for k, v in config["reward"].items() if k != "components"}}
    return _merge(config, sections)


def tiny_training_config(
    model_path: str | Path = "in-process", manifest: str | Path = "in-process", kind: str = "kontext", **sections: Any
) -> dict[str, Any]:
    """The tiny training config the trainer tests start from, as a ``cocoedit train`` config dict:
    64 x 64, LoRA rank 4, 2 groups of 2 samples, 2 sampling steps, 1 epoch, the pixel reward, no
    tracker, the tiny ``kind`` pipeline's backbone options. ``sections`` are merged into it key by
    key (``train={"epochs": 3}`` changes train.epochs only; lists are replaced); a reward section
    in the old form (``weights``, ``functions``, ``options``) replaces the components."""
    config: dict[str, Any] = {
        "model": {
            "path": str(model_path),
            "height": 64,
            "width": 64,
            "lora_rank": 4,
            "lora_alpha": 4,
            "backbone_options": dict(TINY_OPTIONS.get(kind, {})),
        },
        "data": {"manifest": str(manifest)},
        "sampling": {"prompts_per_epoch": 2, "group_size": 2, "batch_size": 2, "steps": 2},
        "reward": {"components": [{"name": "pixel", "weight": 1.0}]},
        "advantage": {"std_threshold": 0.0},
        "optim": {"train_batch_size": 2},
        "train": {"epochs": 1, "report_to": []},
    }
    return _apply(config, sections)


def tiny_config(**sections: Any) -> CocoEditConfig:
    """:func:`tiny_training_config` for a trainer built in process (:func:`tiny_backbone`), loaded:
    3 epochs of 2 groups of 3 samples, pixel + brightness rewards (brightness given in code),
    a checkpoint every step."""
    base = tiny_training_config(
        model={"gradient_checkpointing": False},
        sampling={"group_size": 3, "batch_size": 3, "steps": 3},
        reward={"components": [{"name": "pixel", "weight": 0.5}, {"name": "brightness", "weight": 0.5}], "workers": 2},
        optim={"lr": 1e-3},
        train={"epochs": 3, "checkpoint_every": 1, "keep_last": 10, "validate_every": 3, "sample_grid_every": 2},
    )
    return load_config(None, [], base=_apply(base, sections))


def brightness(inputs) -> RewardBatch:
    """A programmatic reward: mean brightness of the edit region (deterministic)."""
    m = inputs.edit_masks
    score = (inputs.edited * m).sum(dim=(1, 2, 3)) / (3 * m.sum(dim=(1, 2, 3))).clamp_min(1)
    return RewardBatch(score.float(), torch.ones_like(score, dtype=torch.bool))


def darkness(inputs) -> RewardBatch:
    """The inverted :func:`brightness`: 1 - mean brightness of the edit region."""
    bright = brightness(inputs)
    return RewardBatch(1.0 - bright.scores, bright.valid)


class BrightnessTarget:
    """A reward class with an option (the worked example of docs/training.md#reward-components):
    ``1 - |brightness of the edit region - target|``; a sample with an empty edit region cannot be
    scored (``None``)."""

    def __init__(self, target: float = 0.5):
        self.target = target

    def __call__(self, inputs) -> list[float | None]:
        m = inputs.edit_masks
        area = m.sum(dim=(1, 2, 3))
        bright = (inputs.edited * m).sum(dim=(1, 2, 3)) / (3 * area).clamp_min(1)
        return [None if a == 0 else 1.0 - abs(float(b) - self.target) for a, b in zip(area, bright, strict=True)]
