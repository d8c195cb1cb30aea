"""The first two steps of a tiny seeded run, pinned: every loss term (policy, KL, both region
terms) and the combined reward. Any change to a term, to which adapter gives which prediction, to
the sign of r or to the mask's polarity moves these numbers.

Set-up: tiny Kontext built in code, 6 training rows from real photos, the pixel and brightness
rewards, both adapters moved off their start by seeded noise (so the old policy lags the current
one, as mid-run, and the KL term is not 0), and tau_neg large enough that the edit-region hinge is
active. The values were produced by this code on CPU; they agree to ~1e-8 across thread counts.
"""

import json

import pytest
import torch

from cocoedit.data.manifest import read_manifest
from cocoedit.rewards.pixel import PixelReward
from cocoedit.rl.trainer import CocoEditTrainer
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.trainer import brightness, tiny_backbone, tiny_config

GOLDEN = {
    1: {
        "loss/policy": 6.393768350283304,
        "loss/kl": 8.37287202533806e-09,
        "loss/keep_region": 1.1339994271596274,
        "loss/edit_region": 48.84555435180665,
        "reward/combined": 0.32229238748550415,
    },
    2: {
        "loss/policy": 7.553789138793945,
        "loss/kl": 5.846154005340054e-09,
        "loss/keep_region": 1.2270432313283284,
        "loss/edit_region": 48.755187352498375,
        "reward/combined": 0.2971222698688507,
    },
}


@pytest.mark.slow
def test_first_steps_match_the_pinned_losses(tmp_path):
    samples = read_manifest(make_sample_manifest(tmp_path / "ds", samples=6, size=(64, 64)))
    cfg = tiny_config(
        train={"epochs": 2, "checkpoint_every": 10, "validate_every": 10, "sample_grid_every": 10},
        regularizer={"tau_neg": 50.0},
    )
    trainer = CocoEditTrainer(
        cfg, tmp_path / "run", tiny_backbone("kontext"), samples, {"pixel": PixelReward(), "brightness": brightness}
    )
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in trainer.current + trainer.old:
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    trainer.train()
    rows = {r["step"]: r for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())}
    for step, expected in GOLDEN.items():
        for key, value in expected.items():
            assert rows[step][key] == pytest.approx(value, rel=1e-5), (step, key)
