"""What a stop on reward failures says: the counts, the last explanation a server gave and one
unparsable reply (each only when there is one); below the limit or at weight 0, no stop."""

import json

import pytest
import torch

from cocoedit.rewards.base import RewardBatch
from cocoedit.rl.reward_failures import RewardFailureError, append_failures, check_unscored, explanations


def batch(*entries):
    """``entries``: None (scored 0.5) or ``(reason, detail)``."""
    valid = torch.tensor([e is None for e in entries])
    scores = torch.where(valid, torch.tensor(0.5), torch.tensor(float("nan")))
    return RewardBatch(
        scores,
        valid,
        tuple(None if e is None else e[0] for e in entries),
        tuple(None if e is None else e[1] for e in entries),
    )


def test_the_last_explanation_and_the_first_unparsable_reply():
    mixed = batch(
        ("http_500", "HTTP 500: first"),
        ("unparsable", "no score line; reply: 'hmm'"),
        None,
        ("timeout", "no reply within 2 s"),
        ("unparsable", "no score line; reply: 'later'"),
    )
    assert (
        explanations(mixed)
        == ". Last explanation: no reply within 2 s; one unparsable reply: no score line; reply: 'hmm'"
    )
    assert explanations(batch(("unparsable", "x; reply: 'y'"))) == ". One unparsable reply: x; reply: 'y'"
    assert explanations(batch(("http_400", "HTTP 400: bad"), None)) == ". Last explanation: HTTP 400: bad"
    assert explanations(batch(None, ("unscored", None))) == ""


def test_a_stop_names_counts_and_explanations_only_above_the_limit():
    failing = batch(("http_500", "HTTP 500: boom"), ("http_500", "HTTP 500: bang"), None, None)
    check_unscored(0, "judge", failing, 1.0, 0.5)  # 50 % is not above 50 %
    check_unscored(0, "judge", failing, 0.0, 0.25)  # weight 0: logged, never stops
    with pytest.raises(RewardFailureError) as stop:
        check_unscored(4, "judge", failing, 0.8, 0.25)
    assert str(stop.value) == (
        "epoch 5: reward 'judge' could not score 2 of 4 samples (50% > reward.max_unscored_fraction 0.25): "
        "http_500 x2. Last explanation: HTTP 500: bang"
    )


def test_every_failure_is_written_with_its_sample(tmp_path):
    append_failures(tmp_path, 3, "judge", batch(None, ("timeout", "no reply"), None), ["a", "b", "c"])
    append_failures(tmp_path, 4, "judge", batch(None, None, None), ["a", "b", "c"])
    lines = (tmp_path / "reward_failures.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"step": 3, "component": "judge", "sample_id": "b", "reason": "timeout", "detail": "no reply"}
    ]
