"""Region-aware credit in one gradient step: on a group whose two rankings disagree, the edit
region moves towards the sample the edit reward prefers and the keep region towards the sample
the pixel reward prefers; with the paper's single r both move the same way. And the region
regularizers take each region's r."""

import torch

from cocoedit.models.condition import EditCondition, pack_latents, unpack_latents
from cocoedit.rl.advantages import Credit, assign_credit
from cocoedit.rl.config import AdvantageConfig, CreditConfig, RegularizerConfig
from cocoedit.rl.regularizers import region_regularizers
from cocoedit.rl.step import RolloutBatch, StepSettings, accumulate_gradients
from cocoedit.testing.policies import FreePolicies

GRID = (4, 4)
EDIT = torch.zeros(1, 1, *GRID)
EDIT[..., :2] = 1.0  # the left half is the edit region


def _packed(values):
    return pack_latents(torch.as_tensor(values, dtype=torch.float32).reshape(-1, 1, *GRID))


def _group():
    """Sample A edits (1 on the edit region) and drifts (1 on the keep region); sample B leaves the
    edit undone (0) and the keep region as the source (0). The judge prefers A, the pixel reward B."""
    a = torch.ones(GRID)
    b = torch.zeros(GRID)
    clean = _packed(torch.stack([a, b]))
    rewards = {
        "judge": (torch.tensor([0.9, 0.1]), torch.ones(2, dtype=torch.bool)),
        "pixel": (torch.tensor([0.2, 0.8]), torch.ones(2, dtype=torch.bool)),
    }
    return clean, rewards


def _one_step(credit_config):
    clean, rewards = _group()
    result = assign_credit(
        rewards,
        {"judge": 0.8, "pixel": 0.2},
        torch.zeros(2, dtype=torch.long),
        advantage=AdvantageConfig(std_threshold=0.0),
        credit=credit_config,
    )
    source = torch.zeros(1, 4, 4)
    conds = [EditCondition(text={}, source_latents=source, height=8, width=8, guidance=1.0) for _ in range(2)]
    batch = RolloutBatch(
        clean=clean, conditions=conds, credit=result.credit, edit_masks=EDIT.expand(2, -1, -1, -1), seeds=[0, 1]
    )
    # One prediction shared by both samples (one prompt), halfway between them, as is the old one.
    p = _packed(torch.full(GRID, 0.5)).requires_grad_(True)
    settings = StepSettings(
        timesteps=torch.tensor([0.8, 0.5, 0.2], dtype=torch.float64),
        num_timesteps=3,
        micro_batch_size=2,
        credit=credit_config.model_copy(update={"ring_radius": 0}),
    )
    accumulate_gradients(
        batch,
        FreePolicies(p, q=p.detach().clone()),
        settings,
        unpack=lambda z: unpack_latents(z, GRID),
        pack=pack_latents,
    )
    after = unpack_latents(p.detach() - 0.05 * p.grad, GRID)[0, 0]
    return after[:, :2], after[:, 2:]  # edit region, keep region


def test_region_credit_moves_each_region_towards_its_own_reward_s_choice():
    edit, keep = _one_step(CreditConfig(assignment="region", edit_rewards=["judge"], keep_rewards=["pixel"]))
    assert (edit > 0.5).all()  # towards A (1.0), which the judge prefers
    assert (keep < 0.5).all()  # towards B (0.0), which the pixel reward prefers


def test_single_credit_moves_both_regions_towards_the_combined_choice():
    edit, keep = _one_step(CreditConfig())
    assert (edit > 0.5).all() and (keep > 0.5).all()  # A wins on 0.8 judge + 0.2 pixel: drift included


def test_regularizers_take_each_region_s_r():
    # Keep term weighted by the keep region's r, edit term by 1 - the edit region's r.
    src = torch.zeros(1, 1, *GRID)
    x0_pos = src + 0.2  # keep distance 0.04 everywhere
    settings = RegularizerConfig(lambda_ner=1.0, lambda_er=1.0, tau_pos=0.0, tau_neg=0.03, erode_radius=0)
    credit = Credit(torch.tensor([0.9]), torch.tensor([True]), torch.tensor([0.25]), torch.tensor([True]))
    out = region_regularizers(
        x0_positive=x0_pos,
        x0_negative=src,
        x0_sample=src,
        x_source=src,
        edit_mask=EDIT,
        credit=credit,
        settings=settings,
    )
    expected = 0.25 * 0.04 + (1 - 0.9) * 0.03
    assert abs(out.loss.item() - expected) < 1e-6
    # A region whose group carried no signal adds nothing; the sample still counts once.
    no_keep = Credit(torch.tensor([0.9]), torch.tensor([True]), torch.tensor([0.25]), torch.tensor([False]))
    out = region_regularizers(
        x0_positive=x0_pos,
        x0_negative=src,
        x0_sample=src,
        x_source=src,
        edit_mask=EDIT,
        credit=no_keep,
        settings=settings,
    )
    assert abs(out.loss.item() - (1 - 0.9) * 0.03) < 1e-6
