"""Run by test_trainer_distributed.py, under torchrun (2 processes, gloo) or alone:
``python distributed_worker.py DATASET_MANIFEST OUT_DIR [ddp|fsdp2|fsdp2-resume]``. Trains tiny
Kontext for 2 epochs (``fsdp2-resume``: 1 epoch, then a new trainer resumes to 2) and writes this
process's final adapters, gathered whole, to OUT_DIR/rank<r>.pt."""

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from cocoedit.data.manifest import read_manifest
from cocoedit.rewards.pixel import PixelReward
from cocoedit.rl.distributed import init_distributed
from cocoedit.rl.trainer import CocoEditTrainer
from cocoedit.testing.trainer import brightness, tiny_backbone, tiny_config


def main() -> None:
    manifest, out = sys.argv[1], Path(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "ddp"
    init_distributed()
    rank = dist.get_rank() if dist.is_initialized() else 0
    rewards = {"pixel": PixelReward(40, 0.5, 0.5), "brightness": brightness}

    def trainer(epochs):
        cfg = tiny_config(sampling={"prompts_per_epoch": 2, "group_size": 4, "batch_size": 2},
                          optim={"train_batch_size": 2},
                          train={"epochs": epochs, "checkpoint_every": 1, "parallel": mode.split("-")[0]})
        return CocoEditTrainer(cfg, out / "run", tiny_backbone("kontext"), read_manifest(manifest), rewards)

    if mode == "fsdp2-resume":
        trainer(1).train()
        final = trainer(2)
        final.train(resume=True)
    else:
        final = trainer(2)
        final.train()

    def whole(t):
        return (t.full_tensor() if hasattr(t, "full_tensor") else t).detach()

    torch.save({"current": [whole(p) for p in final.current], "old": [whole(p) for p in final.old],
                "world": int(os.environ.get("WORLD_SIZE", 1))}, out / f"rank{rank}.pt")
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
