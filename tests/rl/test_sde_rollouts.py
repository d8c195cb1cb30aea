"""SDE rollouts with every reward and regularizer: a short run with the SDE sampler, the pixel
reward, a programmatic edit reward, both region regularizers, region credit and localized noise
trains with finite losses; and an SDE rollout of a sample does not depend on the batch it is
drawn in (each sample's own noise), so runs on several processes match one process."""

import math

import torch

from cocoedit.rewards.pixel import PixelReward
from cocoedit.rl.distributed import ProcessGroup
from cocoedit.rl.logging import read_metrics
from cocoedit.rl.rollouts import Rollouts
from cocoedit.rl.trainer import CocoEditTrainer


def test_sde_run_with_every_reward_regularizer_credit_and_exploration(
    make_backbone, make_config, train_samples, brightness_reward, tmp_path
):
    cfg = make_config(
        sampling={"sampler": "sde", "sde_noise_level": 0.7, "initial_noise": "localized"},
        regularizer={"enabled": True, "lambda_ner": 0.8, "lambda_er": 0.5, "tau_neg": 50.0},
        credit={"assignment": "region", "edit_rewards": ["brightness"], "keep_rewards": ["pixel"], "ring_radius": 1},
        train={"epochs": 2, "checkpoint_every": 10, "validate_every": 2, "sample_grid_every": 10},
    )
    trainer = CocoEditTrainer(
        cfg,
        tmp_path,
        make_backbone("kontext"),
        train_samples,
        {"pixel": PixelReward(), "brightness": brightness_reward},
        validation_samples=train_samples[:1],
    )
    before = [p.detach().clone() for p in trainer.current]
    trainer.train()
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        for key in ("loss/policy", "loss/keep_region", "loss/edit_region", "signal/spread_edit", "reward/pixel"):
            assert math.isfinite(row[key]), (key, row)
        assert "signal/edit/uninformative_groups" in row and "signal/keep/uninformative_groups" in row
    assert rows[-1]["loss/edit_region"] > 0 and rows[-1]["loss/keep_region"] > 0
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, trainer.current, strict=True))


def test_an_sde_rollout_does_not_depend_on_its_batch(make_backbone, make_config, train_samples):
    backbone = make_backbone("kontext")
    config = make_config(sampling={"sampler": "sde", "steps": 3})
    rollouts = Rollouts(config, backbone, train_samples, [], {}, ProcessGroup())

    def predict(x, sigma, cond):
        return backbone.predict_velocity(x, sigma, cond)

    together, _ = rollouts.rollout([0, 1, 2], [0, 1, 2], 0, predict)
    alone, _ = rollouts.rollout([1], [1], 0, predict)
    assert torch.allclose(together[1], alone[0], atol=1e-5)
    assert not torch.allclose(together[0], together[1])
