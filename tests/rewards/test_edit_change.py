"""The judge-free edit-region change reward on hand-checkable images: 0 untouched, proportional up
to ``scale``, 1 beyond; the keep region ignored; an empty edit region unscored."""

import pytest
import torch

from cocoedit.rewards.base import RewardInputs
from cocoedit.rewards.edit_change import EditRegionChange, edit_region_change


def test_change_of_the_edit_region_only():
    source = torch.zeros(4, 3, 4, 4)
    mask = torch.zeros(4, 1, 4, 4)
    mask[:3, :, :2, :2] = 1  # a 2x2 edit region; sample 3 has none
    edited = source.clone()
    edited[1, :, :2, :2] = 0.05  # half of scale 0.1
    edited[2, :, :2, :2] = 0.5  # beyond scale
    edited[0, :, 2:, 2:] = 1.0  # a change in the keep region only
    out = edit_region_change(edited, source, mask, scale=0.1)
    assert out.valid.tolist() == [True, True, True, False]
    assert out.scores[:3].tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert torch.isnan(out.scores[3])


def test_as_a_trainer_reward_with_its_option():
    source, mask = torch.zeros(1, 3, 2, 2), torch.ones(1, 1, 2, 2)
    edited = torch.full((1, 3, 2, 2), 0.1)
    inputs = RewardInputs(source, edited, mask, ["make it grey"])
    assert EditRegionChange(scale=0.4)(inputs).scores.tolist() == pytest.approx([0.25])
    with pytest.raises(ValueError, match="scale must be above 0"):
        EditRegionChange(scale=0)
