"""Tiny trainer set-ups: a tiny random backbone, a small config, a programmatic reward.

Used by the trainer tests, the distributed worker script and the training benchmark."""

from __future__ import annotations

import torch

from cocoedit.rewards.base import RewardBatch
from cocoedit.rl.config import load_config


def tiny_backbone(kind: str):
    from cocoedit.models.registry import wrap_pipeline
    from cocoedit.testing.stock import TINY_OPTIONS
    from cocoedit.testing.tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline(kind)
    pipe.set_progress_bar_config(disable=True)
    return wrap_pipeline(pipe, **TINY_OPTIONS.get(kind, {}))


def tiny_config(**sections):
    base = {
        "model": {
            "path": "in-process",
            "height": 64,
            "width": 64,
            "lora_rank": 4,
            "lora_alpha": 4,
            "gradient_checkpointing": False,
        },
        "data": {"manifest": "in-process"},
        "sampling": {"prompts_per_epoch": 2, "group_size": 3, "batch_size": 3, "steps": 3},
        "reward": {"weights": {"pixel": 0.5, "brightness": 0.5}, "workers": 2},
        "advantage": {"std_threshold": 0.0},
        "optim": {"lr": 1e-3, "train_batch_size": 2},
        "train": {
            "epochs": 3,
            "checkpoint_every": 1,
            "keep_last": 10,
            "validate_every": 3,
            "sample_grid_every": 2,
            "logger": "none",
        },
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return load_config(None, [], base=base)


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
    """A reward class with an option (the worked example of docs/training.md#custom-rewards):
    ``1 - |brightness of the edit region - target|``; a sample with an empty edit region cannot be
    scored (``None``)."""

    def __init__(self, target: float = 0.5):
        self.target = target

    def __call__(self, inputs) -> list[float | None]:
        m = inputs.edit_masks
        area = m.sum(dim=(1, 2, 3))
        bright = (inputs.edited * m).sum(dim=(1, 2, 3)) / (3 * area).clamp_min(1)
        return [None if a == 0 else 1.0 - abs(float(b) - self.target) for a, b in zip(area, bright, strict=True)]
