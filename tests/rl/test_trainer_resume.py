"""Exact resume: a run killed mid-way and resumed ends bitwise equal to an uninterrupted run;
resuming with a config change that alters results is refused with the keys named."""

import pytest
import torch

from cocoedit.rewards.pixel import PixelReward
from cocoedit.rl.checkpoint import RunError, read_trainer_state
from cocoedit.rl.config import load_config
from cocoedit.rl.trainer import CocoEditTrainer


class CrashAfter:
    """A reward that fails on its n-th call, as a crashed judge or a killed process would."""

    def __init__(self, reward, calls: int):
        self.reward, self.calls = reward, calls

    def __call__(self, inputs):
        self.calls -= 1
        if self.calls < 0:
            raise RuntimeError("simulated crash")
        return self.reward(inputs)


def final_state(run_dir):
    return read_trainer_state(run_dir / "checkpoints" / "step-000004")


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_adapters(
    train_samples, tmp_path, make_backbone, make_config, brightness_reward
):
    cfg = make_config(train={"epochs": 4, "checkpoint_every": 2, "validate_every": 100})
    pixel = PixelReward(40, 0.5, 0.5)

    CocoEditTrainer(
        cfg, tmp_path / "a", make_backbone("kontext"), train_samples, {"pixel": pixel, "brightness": brightness_reward}
    ).train()

    # Crash in epoch 3, after the step-2 checkpoint: 2 sampling batches per epoch.
    crashing = CrashAfter(brightness_reward, calls=2 * 2 + 1)
    with pytest.raises(RuntimeError, match="simulated crash"):
        CocoEditTrainer(
            cfg, tmp_path / "b", make_backbone("kontext"), train_samples, {"pixel": pixel, "brightness": crashing}
        ).train()
    assert not (tmp_path / "b" / "checkpoints" / "step-000003").exists()
    CocoEditTrainer(
        cfg, tmp_path / "b", make_backbone("kontext"), train_samples, {"pixel": pixel, "brightness": brightness_reward}
    ).train(resume=True)

    a, b = final_state(tmp_path / "a"), final_state(tmp_path / "b")
    assert a.step == b.step == 4
    for key in ("current", "old"):
        x, y = getattr(a, key), getattr(b, key)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), key
    moments_a, moments_b = a.optimizer["state"], b.optimizer["state"]
    assert moments_a.keys() == moments_b.keys() and len(moments_a) == len(a.current)
    assert all(torch.equal(moments_a[k]["exp_avg"], moments_b[k]["exp_avg"]) for k in moments_a)


@pytest.mark.slow
def test_resume_refuses_result_changing_config(train_samples, tmp_path, make_backbone, make_config, brightness_reward):
    cfg = make_config(train={"epochs": 1})
    rewards = {"pixel": PixelReward(40, 0.5, 0.5), "brightness": brightness_reward}
    CocoEditTrainer(cfg, tmp_path, make_backbone("kontext"), train_samples, rewards).train()
    changed = load_config(None, ["optim.lr=0.5", "train.epochs=3"], base=cfg.model_dump(mode="json"))
    with pytest.raises(RunError, match=r"optim.lr: 0.001 -> 0.5"):
        CocoEditTrainer(changed, tmp_path, make_backbone("kontext"), train_samples, rewards).train(resume=True)
    more_epochs = load_config(None, ["train.epochs=2"], base=cfg.model_dump(mode="json"))
    CocoEditTrainer(more_epochs, tmp_path, make_backbone("kontext"), train_samples, rewards).train(resume=True)
    assert (tmp_path / "checkpoints" / "step-000002").is_dir()
    with pytest.raises(RunError, match="already holds a run"):
        CocoEditTrainer(cfg, tmp_path, make_backbone("kontext"), train_samples, rewards).train()
