"""The region-credit settings of a step, read through the gradient of one step: ``credit.ring_weight``
decides whose ``r`` the ring of latent pixels around the boundary takes, and
``credit.region_weights`` how much each region weighs (area: by its area; equal: the same)."""

import torch

from cocoedit.models.condition import EditCondition, pack_latents, unpack_latents
from cocoedit.rl.advantages import assign_credit
from cocoedit.rl.config import AdvantageConfig, CreditConfig
from cocoedit.rl.step import RolloutBatch, StepSettings, accumulate_gradients
from cocoedit.testing.policies import FreePolicies

REGION = CreditConfig(assignment="region", edit_rewards=["judge"], keep_rewards=["pixel"])


def _descent(edit_columns: int, width: int, credit: CreditConfig) -> torch.Tensor:
    """Minus the gradient, on the ``[4, width]`` latent grid, of one step on one group: sample A
    (1 everywhere) is the judge's choice, sample B (0 everywhere) the pixel reward's; the current
    and the old policy predict 0.5 everywhere. The first ``edit_columns`` columns are the edit region."""
    grid = (4, width)
    edit = torch.zeros(1, 1, *grid)
    edit[..., :edit_columns] = 1.0

    def packed(values):
        return pack_latents(torch.as_tensor(values, dtype=torch.float32).reshape(-1, 1, *grid))

    ok = torch.ones(2, dtype=torch.bool)
    rewards = {"judge": (torch.tensor([0.9, 0.1]), ok), "pixel": (torch.tensor([0.1, 0.9]), ok)}
    groups = torch.zeros(2, dtype=torch.long)
    result = assign_credit(
        rewards, {"judge": 0.5, "pixel": 0.5}, groups, advantage=AdvantageConfig(std_threshold=0.0), credit=credit
    )
    source = packed(torch.zeros(grid))
    cond = EditCondition(text={}, source_latents=source, height=8, width=8, guidance=1.0)
    batch = RolloutBatch(
        clean=packed(torch.stack([torch.ones(grid), torch.zeros(grid)])),
        conditions=[cond, cond],
        credit=result.credit,
        edit_masks=edit.expand(2, -1, -1, -1),
        seeds=[0, 1],
    )
    p = packed(torch.full(grid, 0.5)).requires_grad_(True)
    settings = StepSettings(
        timesteps=torch.tensor([0.8, 0.5, 0.2], dtype=torch.float64), num_timesteps=3, micro_batch_size=2, credit=credit
    )
    accumulate_gradients(
        batch,
        FreePolicies(p, q=p.detach().clone()),
        settings,
        unpack=lambda z: unpack_latents(z, grid),
        pack=pack_latents,
    )
    return -unpack_latents(p.grad, grid)[0, 0]


def test_the_ring_takes_the_edit_region_s_r_in_proportion_to_ring_weight():
    # Edit columns 0-3 of 8; ring radius 1: columns 3 and 4 are the ring.
    edit_r = _descent(4, 8, REGION.model_copy(update={"ring_radius": 1, "ring_weight": 1.0}))
    keep_r = _descent(4, 8, REGION.model_copy(update={"ring_radius": 1, "ring_weight": 0.0}))
    ring = slice(3, 5)
    assert (edit_r[:, :3] > 0).all() and (edit_r[:, 5:] < 0).all()  # the regions: each its reward's choice
    assert (edit_r[:, ring] > 0).all()  # ring_weight 1: the ring goes with the edit region (towards A)
    assert (keep_r[:, ring] < 0).all()  # ring_weight 0: with the keep region (towards B)
    assert torch.equal(edit_r[:, :3], keep_r[:, :3]) and torch.equal(edit_r[:, 5:], keep_r[:, 5:])


def test_equal_region_weights_give_a_small_edit_region_the_keep_region_s_say():
    # Edit region: 1 column of 4 (25 %). With area weights every element weighs 1; with equal ones
    # the edit region's elements weigh 0.5 / 0.25 = 2 and the keep region's 0.5 / 0.75 = 2/3.
    area = _descent(1, 4, REGION.model_copy(update={"ring_radius": 0, "region_weights": "area"}))
    equal = _descent(1, 4, REGION.model_copy(update={"ring_radius": 0, "region_weights": "equal"}))
    assert (area[:, 0] > 0).all() and (area[:, 1:] < 0).all()
    assert torch.allclose(equal[:, 0], 2 * area[:, 0]) and torch.allclose(equal[:, 1:], area[:, 1:] * 2 / 3)
    edit_share = lambda g: g[:, 0].abs().sum() / g.abs().sum()  # noqa: E731
    assert edit_share(equal) > edit_share(area)
