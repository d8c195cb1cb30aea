"""Run by test_trainer_distributed.py, under torchrun (2 processes, gloo) or alone:
``python distributed_worker.py DATASET_MANIFEST OUT_DIR``. Trains tiny Kontext for 2 epochs and
writes this process's final adapters to OUT_DIR/rank<r>.pt."""

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
from trainer_helpers import brightness, tiny_backbone, tiny_config  # noqa: E402

from cocoedit.data.manifest import read_manifest  # noqa: E402
from cocoedit.rl.trainer import CocoEditTrainer, PixelReward, init_distributed  # noqa: E402


def main() -> None:
    manifest, out = sys.argv[1], Path(sys.argv[2])
    init_distributed()
    rank = dist.get_rank() if dist.is_initialized() else 0
    cfg = tiny_config(sampling={"prompts_per_epoch": 2, "group_size": 4, "batch_size": 2},
                      optim={"train_batch_size": 2}, train={"epochs": 2, "checkpoint_every": 2})
    trainer = CocoEditTrainer(cfg, out / "run", tiny_backbone("kontext"), read_manifest(manifest),
                              {"pixel": PixelReward(40, 0.5, 0.5), "brightness": brightness})
    trainer.train()
    torch.save({"current": [p.detach() for p in trainer.current], "old": [p.detach() for p in trainer.old],
                "world": int(os.environ.get("WORLD_SIZE", 1))}, out / f"rank{rank}.pt")
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
