"""RL with the config defaults moves an editor the way its reward says. A tiny pixel-space editor is
trained by ``cocoedit sft`` (its default recipe, whose edits depend on the initial noise) on the
synthetic task, then RL-trained with a programmatic reward given by dotted import path: the edit
region's brightness makes its edits brighter, the inverted reward darker. Only the sizes (image,
groups, steps, epochs) and the logging schedule are set; everything else is the default: the
std threshold 0.02 that filters groups, the stop after 5 steps without signal, gradient
checkpointing, rank-32 adapters, learning rate 3e-4, dpm2 rollouts, the region regularizers, the
KL term. A run whose groups carried no signal would stop with an error instead of passing."""

import pytest
import torch

from cocoedit.data.synthetic import write_synthetic_task
from cocoedit.demo.evaluation import held_out_rows
from cocoedit.demo.runner import one_thread
from cocoedit.demo.sft import SFTConfig, train_pixel_editor
from cocoedit.models.generate import sample_latents
from cocoedit.models.lora import use_adapter
from cocoedit.models.registry import load_backbone
from cocoedit.rl.config import load_config
from cocoedit.rl.logging import read_metrics
from cocoedit.rl.trainer import CURRENT, CocoEditTrainer

SIZE = 32


def edit_region_brightness(backbone, rows) -> float:
    """Mean brightness of the edit region of the test edits, from fixed noise."""
    generators = [torch.Generator().manual_seed(100 + i) for i in range(len(rows))]
    with torch.no_grad():
        cond = backbone.encode_condition(
            [r.sample.instruction for r in rows], torch.stack([r.source for r in rows]), SIZE, SIZE
        )
        images = backbone.decode(sample_latents(backbone, cond, 4, "euler", generators).sample, SIZE, SIZE)
    masks = torch.stack([r.edit_mask for r in rows])
    return float((images * masks).sum() / (3 * masks.sum()))


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    root = tmp_path_factory.mktemp("direction")
    manifests = write_synthetic_task(root / "data", {"train": 48, "test": 12}, SIZE, 0)
    with one_thread():  # as the demo: two threads per test worker thrash on a loaded 2-core box
        train_pixel_editor(manifests["train"], root / "editor", SFTConfig(steps=300, batch_size=16))
    return root, manifests["train"]


@pytest.mark.slow
def test_brightness_reward_brightens_and_its_inverse_darkens(editor):
    root, train_manifest = editor
    rows = held_out_rows(root / "data", SIZE)
    base = edit_region_brightness(load_backbone(root / "editor"), rows)
    after = {}
    for name in ("brightness", "darkness"):
        config = load_config(
            None,
            [],
            base={
                "model": {"path": str(root / "editor"), "height": SIZE, "width": SIZE},
                "data": {"manifest": str(train_manifest)},
                "sampling": {"prompts_per_epoch": 4, "group_size": 4, "batch_size": 16, "steps": 4},
                "reward": {"components": [{"name": name, "function": f"cocoedit.testing.trainer:{name}"}]},
                "optim": {"train_batch_size": 16},
                "train": {
                    "epochs": 12,
                    "checkpoint_every": 100,
                    "validate_every": 100,
                    "sample_grid_every": 100,
                    "report_to": [],
                },
            },
        )
        assert config.model.gradient_checkpointing and config.optim.lr == 3e-4
        assert config.advantage.std_threshold == 0.02 and config.advantage.no_signal_steps == 5
        trainer = CocoEditTrainer.from_config(config, root / f"run-{name}")
        assert trainer.backbone.transformer.gradient_checkpointing
        trainer.train()
        rows_logged = read_metrics(root / f"run-{name}")
        assert min(r["train/valid_fraction"] for r in rows_logged) > 0  # every step learnt from some group
        with use_adapter(trainer.backbone, CURRENT):
            after[name] = edit_region_brightness(trainer.backbone, rows)
    assert after["brightness"] > base + 0.005, (base, after)
    assert after["darkness"] < base - 0.005, (base, after)
