"""The trainer-facing reward: scores in [0, 1], validity flags with the reason of each failure, and
an unreachable judge that stops the run."""

import threading

import pytest
import torch

from cocoedit.judge.client import JudgeUnreachableError
from cocoedit.judge.config import EndpointConfig
from cocoedit.rewards.base import RewardError
from cocoedit.rewards.mllm import MLLMReward, MLLMRewardConfig
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply


def _by_instruction(body, index):
    text = body["messages"][0]["content"][-1]["text"]
    if "GARBLE" in text:
        return ScriptedReply(text="cannot tell")
    if "OUTAGE" in text:
        return ScriptedReply(status=500)
    return ScriptedReply(text="Editing effect: 5\nVisual quality: 3")


def _reward(server, **kw):
    config = MLLMRewardConfig(
        endpoint=EndpointConfig(base_url=server.base_url, model=server.model, max_retries=0), parse_retries=0, **kw
    )
    return MLLMReward(config)


def test_scores_and_validity_per_sample():
    src, out = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16)
    with ScriptedJudgeServer(_by_instruction) as server, _reward(server) as reward:
        batch = reward(src, out, ["make it red", "GARBLE one", "add a hat", "OUTAGE now"])
    assert batch.valid.tolist() == [True, False, True, False]
    assert batch.scores[batch.valid].tolist() == pytest.approx([0.8, 0.8])
    assert torch.isnan(batch.scores[~batch.valid]).all()
    assert batch.reasons == (None, "unparsable", None, "http_500")
    assert batch.failure_reasons() == ["unparsable", "http_500"]


def test_an_unreachable_judge_raises_instead_of_failing_samples():
    with ScriptedJudgeServer(_by_instruction) as server:
        reward = _reward(server)
    try:  # the server is gone now
        reward.judge.backend.config = reward.judge.backend.config.model_copy(
            update={"unreachable_timeout_s": 0.2, "backoff_s": 0.05}
        )
        with pytest.raises(JudgeUnreachableError, match="unreachable"):
            reward(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), ["a", "b"])
    finally:
        reward.close()


def test_callable_from_trainer_threads_and_rejects_bad_shapes():
    with ScriptedJudgeServer(_by_instruction) as server, _reward(server) as reward:
        results = []
        threads = [
            threading.Thread(
                target=lambda: results.append(reward(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), ["a", "b"]))
            )
            for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [b.valid.all().item() for b in results] == [True] * 3
        with pytest.raises(RewardError, match="batch sizes differ"):
            reward(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), ["only one"])
