"""Old-policy decay schedules and the soft update."""

import pytest
import torch

from cocoedit.rl.old_policy import old_policy_decay, soft_update_


def test_decay_schedules():
    assert [old_policy_decay(s, "linear") for s in (0, 100, 500, 2000)] == pytest.approx([0.0, 0.1, 0.5, 0.5])
    assert [old_policy_decay(s, "delayed") for s in (0, 74, 75, 175, 1000)] == pytest.approx([0, 0, 0, 0.75, 0.999])
    assert old_policy_decay(300, "none") == 0.0
    with pytest.raises(ValueError, match="schedule"):
        old_policy_decay(1, "cosine")


def test_soft_update_moves_old_towards_current():
    old = [torch.tensor([1.0, 1.0]), torch.tensor([[0.0]])]
    current = [torch.tensor([3.0, -1.0]), torch.tensor([[4.0]])]
    soft_update_(old, current, decay=0.25)
    assert old[0].tolist() == [2.5, -0.5] and old[1].item() == 3.0
    soft_update_(old, current, decay=1.0)
    assert old[0].tolist() == [2.5, -0.5]
    with pytest.raises(ValueError, match="shape mismatch"):
        soft_update_([torch.zeros(2)], [torch.zeros(3)], 0.5)
