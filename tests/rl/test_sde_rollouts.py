"""SDE rollouts with every reward and regularizer: a short run with the SDE sampler, the pixel
reward, a programmatic edit reward, both region regularizers, region credit and localized noise
trains with finite losses; one-epoch runs with the MLLM judge (the scripted judge server over
HTTP) and every form and distance of the edit-region term do too; and an SDE rollout of a sample
does not depend on the batch it is drawn in (each sample's own noise), so runs on several
processes match one process."""

import hashlib
import math

import pytest
import torch

from cocoedit.rewards.pixel import PixelReward
from cocoedit.rewards.registry import load_reward
from cocoedit.rl.distributed import ProcessGroup
from cocoedit.rl.logging import read_metrics
from cocoedit.rl.rollouts import Rollouts
from cocoedit.rl.trainer import CocoEditTrainer
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply


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


def _judge_by_image(body, index):
    """Scores from a hash of the edited image, so a group's different samples score differently."""
    edited = [c for c in body["messages"][0]["content"] if c["type"] == "image_url"][-1]["image_url"]["url"]
    h = int(hashlib.sha256(edited.encode()).hexdigest(), 16)
    return ScriptedReply(text=f"Editing effect: {h % 6}\nVisual quality: {(h // 6) % 6}")


@pytest.fixture(scope="module")
def judge_url():
    with ScriptedJudgeServer(_judge_by_image) as server:
        yield server.base_url


# Every form of the edit-region term, every distance at least once; tau_neg so that the term is
# active (above 0) wherever it is on: large for the hinges on "too close", 0 for pull_negative.
EDIT_TERMS = [
    ("reference", "squared", 50.0),
    ("push_positive", "sqrt", 50.0),
    ("pull_negative", "l1", 0.0),
    ("off", "sqrt", 50.0),
]


@pytest.mark.parametrize(("form", "distance", "tau_neg"), EDIT_TERMS)
def test_sde_run_with_the_judge_and_each_edit_term(
    form, distance, tau_neg, judge_url, make_backbone, make_config, train_samples, tmp_path
):
    judge = {"endpoint": {"base_url": judge_url, "model": "scripted-judge", "max_retries": 0}, "parse_retries": 0}
    cfg = make_config(
        sampling={"sampler": "sde", "sde_noise_level": 0.7, "steps": 2},
        reward={"components": [{"name": "pixel", "weight": 0.2}, {"name": "judge", "weight": 0.8, "options": judge}]},
        regularizer={"enabled": True, "edit_term": form, "edit_distance": distance, "tau_neg": tau_neg},
        train={"epochs": 1, "checkpoint_every": 10, "validate_every": 10, "sample_grid_every": 10},
    )
    rewards = {"pixel": PixelReward(), "judge": load_reward("judge", options=judge)}
    trainer = CocoEditTrainer(cfg, tmp_path, make_backbone("kontext"), train_samples, rewards)
    before = [p.detach().clone() for p in trainer.current]
    trainer.train()
    (row,) = read_metrics(tmp_path)
    for key in ("loss/policy", "loss/keep_region", "loss/edit_region", "reward/judge", "reward/pixel"):
        assert math.isfinite(row[key]), (key, row)
    assert row["reward_unscored/judge"] == 0 and row["reward/scored_fraction"] == 1.0
    assert row["train/valid_fraction"] > 0 and row["signal/group_std_max"] > 0
    assert (row["loss/edit_region"] == 0) == (form == "off")
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
