"""Run by test_trainer_distributed.py, under torchrun (2 processes, gloo) or alone: ``python
distributed_worker.py MODEL_DIR MANIFEST OUT_DIR MODE [KIND]`` with MODE ``ddp``, ``fsdp2``,
``fsdp2-resume`` or ``<parallel>+region`` (region-aware credit: the edit region's r from the
brightness reward, the keep region's from the pixel reward). Builds the trainer the way ``cocoedit
train`` does (``from_config`` on the tiny KIND model, default ``kontext``, saved to MODEL_DIR, with
that kind's tiny backbone options; nothing seeds torch by hand),
validates every step, trains 2 epochs (``fsdp2-resume``: 1 epoch, then a new trainer resumes to 2)
and writes this process's initial and final adapters, gathered whole, to OUT_DIR/rank<r>.pt."""

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from cocoedit.rl.config import load_config
from cocoedit.rl.distributed import init_distributed
from cocoedit.rl.trainer import CocoEditTrainer
from cocoedit.testing.trainer import tiny_training_config


def whole(t):
    return (t.full_tensor() if hasattr(t, "full_tensor") else t).detach().clone()


def main() -> None:
    model, manifest, out, mode = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    kind = sys.argv[5] if len(sys.argv) > 5 else "kontext"
    mode, _, credit = mode.partition("+")
    init_distributed()
    rank = dist.get_rank() if dist.is_initialized() else 0

    def trainer(epochs):
        cfg = load_config(
            None,
            [],
            base=tiny_training_config(
                model,
                manifest,
                kind,
                data={"validation_manifest": manifest, "validation_samples": 3},
                sampling={"group_size": 4, "steps": 3},
                reward={
                    "components": [
                        {"name": "pixel", "weight": 0.5},
                        {"name": "brightness", "function": "cocoedit.testing.trainer:brightness", "weight": 0.5},
                    ]
                },
                optim={"lr": 1e-3},
                credit=(
                    {"assignment": "region", "edit_rewards": ["brightness"], "keep_rewards": ["pixel"]}
                    if credit == "region"
                    else {}
                ),
                train={
                    "epochs": epochs,
                    "checkpoint_every": 1,
                    "validate_every": 1,
                    "sample_grid_every": 1,
                    "parallel": mode.split("-")[0],
                },
            ),
        )
        return CocoEditTrainer.from_config(cfg, out / "run")

    if mode == "fsdp2-resume":
        first = trainer(1)
        initial = [whole(p) for p in first.current]
        first.train()
        final = trainer(2)
        final.train(resume=True)
    else:
        final = trainer(2)
        initial = [whole(p) for p in final.current]
        final.train()
    torch.save(
        {
            "initial": initial,
            "current": [whole(p) for p in final.current],
            "old": [whole(p) for p in final.old],
            "world": int(os.environ.get("WORLD_SIZE", 1)),
            "kind": final.backbone.kind,
            "sharded": final.sharded,
        },
        out / f"rank{rank}.pt",
    )
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
