"""The reward threads never cap the judge requests in flight: with ``reward.workers`` left at its
default, every sampling batch of an epoch can be with the judge at once, up to the judge's own
concurrency (with 4 threads and batches of 2, at most 8 of 16 were)."""

import threading
import time

import pytest

from cocoedit.rewards.mllm import JudgeReward, MLLMReward, MLLMRewardConfig
from cocoedit.rl.config import RewardConfig
from cocoedit.rl.trainer import CocoEditTrainer
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply

DELAY_S = 4.0


@pytest.mark.slow
def test_all_sampled_batches_are_judged_at_once(tmp_path, train_samples, make_backbone, make_config):
    assert RewardConfig(components=[{"name": "pixel"}]).workers is None  # the default under test
    arrivals, lock = [], threading.Lock()

    def script(body, index):
        with lock:
            arrivals.append(time.monotonic())
        return ScriptedReply(text="Editing effect: 3\nVisual quality: 4", delay_s=DELAY_S)

    with ScriptedJudgeServer(script, validate_requests=False) as server:
        judge = {"endpoint": {"base_url": server.base_url, "model": server.model, "concurrency": 16}}
        config = make_config(
            sampling={"prompts_per_epoch": 4, "group_size": 4, "batch_size": 2, "steps": 2},
            reward={"components": [{"name": "judge", "options": judge}], "workers": None},
            train={"epochs": 1},
        )
        reward = JudgeReward(MLLMReward(MLLMRewardConfig.model_validate(config.reward.component("judge").options)))
        CocoEditTrainer(config, tmp_path / "run", make_backbone("kontext"), train_samples, {"judge": reward}).train()
    # Requests each take DELAY_S: those that arrived within DELAY_S of one another were in flight together.
    in_flight = max(sum(a <= t < a + DELAY_S for a in arrivals) for t in arrivals)
    assert len(arrivals) == 16 and in_flight > 8
