"""Epoch plans: distinct prompts, banned rows excluded, identical groups on every rank."""

import pytest
import torch

from cocoedit.rl.epoch_plan import EpochPlanError, plan_epoch, sample_generator, sample_seed


def test_prompts_are_distinct_seeded_and_skip_banned():
    plan = plan_epoch(dataset_size=10, prompts_per_epoch=6, group_size=3, epoch=4, seed=7, banned={1, 2})
    assert len(set(plan.prompts.tolist())) == 6 and not {1, 2} & set(plan.prompts.tolist())
    again = plan_epoch(10, 6, 3, epoch=4, seed=7, banned={1, 2})
    other = plan_epoch(10, 6, 3, epoch=5, seed=7, banned={1, 2})
    assert plan.prompts.tolist() == again.prompts.tolist() != other.prompts.tolist()
    assert plan.sample_group.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]


def test_shards_cover_the_epoch_once_with_the_same_groups():
    full = plan_epoch(8, 4, 4, epoch=0, seed=1)
    shards = [plan_epoch(8, 4, 4, epoch=0, seed=1, world_size=4, rank=r) for r in range(4)]
    assert all(s.prompts.tolist() == full.prompts.tolist() for s in shards)
    assert [list(s.local_indices) for s in shards] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    assert torch.cat([s.local_prompts() for s in shards]).tolist() == full.local_prompts().tolist()


def test_sample_seeds_are_distinct_and_reproducible():
    seeds = {sample_seed(0, e, i) for e in range(3) for i in range(100)}
    assert len(seeds) == 300
    a = torch.randn(4, generator=sample_generator(3, 1, 5))
    assert torch.equal(a, torch.randn(4, generator=sample_generator(3, 1, 5)))


def test_impossible_plans_are_explained():
    with pytest.raises(EpochPlanError, match="only 3 of 5 are available \\(2 banned"):
        plan_epoch(5, 4, 2, epoch=0, seed=0, banned=[0, 1])
    with pytest.raises(EpochPlanError, match="cannot be split evenly over 4"):
        plan_epoch(5, 3, 2, epoch=0, seed=0, world_size=4)
    with pytest.raises(ValueError, match="group_size"):
        plan_epoch(5, 3, 1, epoch=0, seed=0)
