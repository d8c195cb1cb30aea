"""A reward whose service is down (:class:`~cocoedit.core.errors.ServiceUnavailableError`, the
general error the judge's "unreachable" derives from) stops a run after a checkpoint of the last
completed step, whichever reward raises it; any other error is a crash and saves nothing more."""

import pytest

from cocoedit.core.errors import ServiceUnavailableError
from cocoedit.rewards.pixel import PixelReward
from cocoedit.rl.checkpoint import list_checkpoints
from cocoedit.rl.trainer import CocoEditTrainer

pytestmark = pytest.mark.slow  # trains a tiny model for an epoch or two (~6 s each)


class DownAfter:
    """A reward served elsewhere that goes away after ``calls`` calls, raising ``error``."""

    def __init__(self, reward, calls: int, error: Exception):
        self.reward, self.calls, self.error = reward, calls, error

    def __call__(self, inputs):
        self.calls -= 1
        if self.calls < 0:
            raise self.error
        return self.reward(inputs)


def run(tmp_path, train_samples, make_backbone, make_config, brightness, error):
    # checkpoint_every 10: only the stop itself writes the step-1 checkpoint. 2 batches per epoch.
    cfg = make_config(train={"epochs": 3, "checkpoint_every": 10, "validate_every": 100})
    rewards = {"pixel": PixelReward(), "brightness": DownAfter(brightness, calls=2, error=error)}
    CocoEditTrainer(cfg, tmp_path, make_backbone("kontext"), train_samples, rewards).train()


def test_a_custom_reward_service_down_stops_after_a_checkpoint(
    tmp_path, train_samples, make_backbone, make_config, brightness_reward
):
    down = ServiceUnavailableError("reward server at http://127.0.0.1:9 is gone")
    with pytest.raises(ServiceUnavailableError, match="reward server at http://127.0.0.1:9 is gone"):
        run(tmp_path, train_samples, make_backbone, make_config, brightness_reward, down)
    assert [step for step, _ in list_checkpoints(tmp_path / "checkpoints")] == [1]


def test_any_other_reward_error_saves_nothing_more(
    tmp_path, train_samples, make_backbone, make_config, brightness_reward
):
    with pytest.raises(RuntimeError, match="a bug"):
        run(tmp_path, train_samples, make_backbone, make_config, brightness_reward, RuntimeError("a bug"))
    assert list_checkpoints(tmp_path / "checkpoints") == []
