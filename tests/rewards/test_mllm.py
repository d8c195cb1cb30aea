"""The trainer-facing reward: scores in [0, 1], validity flags, and a loud failure threshold."""

import threading

import pytest
import torch

from cocoedit.judge.config import EndpointConfig
from cocoedit.rewards.mllm import JudgeFailureError, MLLMReward, MLLMRewardConfig
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
    with ScriptedJudgeServer(_by_instruction) as server, _reward(server, max_failure_fraction=0.5) as reward:
        batch = reward(src, out, ["make it red", "GARBLE one", "add a hat", "OUTAGE now"])
    assert batch.valid.tolist() == [True, False, True, False]
    assert batch.scores[batch.valid].tolist() == pytest.approx([0.8, 0.8])
    assert torch.isnan(batch.scores[~batch.valid]).all()
    assert batch.reasons == {"unparsable": 1, "http_500": 1}


def test_raises_above_the_failure_fraction_with_reasons_counted():
    src = [torch.rand(3, 16, 16) for _ in range(3)]
    with ScriptedJudgeServer(_by_instruction) as server, _reward(server, max_failure_fraction=0.5) as reward:
        with pytest.raises(JudgeFailureError, match=r"2/3 judge calls failed.*unparsable x1.*http_500 x1") as err:
            reward(src, src, ["GARBLE", "OUTAGE now", "fine"])
    assert err.value.reasons == {"unparsable": 1, "http_500": 1}


def test_callable_from_trainer_threads_and_rejects_bad_shapes():
    with ScriptedJudgeServer(_by_instruction) as server, _reward(server) as reward:
        results = []
        threads = [threading.Thread(target=lambda: results.append(reward(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), ["a", "b"])))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [b.valid.all().item() for b in results] == [True] * 3
        with pytest.raises(ValueError, match="batch sizes differ"):
            reward(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), ["only one"])
