"""The per-epoch update on its own, with policies whose x0-predictions are free tensors: the
direction each term moves the current policy, which mask region each regularizer touches, and
that the negative branch extrapolates from the old policy."""

import pytest
import torch

from cocoedit.models.condition import EditCondition, pack_latents, unpack_latents
from cocoedit.rl.advantages import Credit
from cocoedit.rl.config import RegularizerConfig
from cocoedit.rl.step import NonFiniteError, RolloutBatch, StepSettings, accumulate_gradients
from cocoedit.testing.policies import FreePolicies

GRID = (4, 4)  # latent grid h, w; C = 1 channel -> packed [B, 4, 4]


def _batch(clean, source, edit_mask, r, valid=None):
    n = clean.shape[0]
    conds = [
        EditCondition(text={"x": torch.zeros(1, 1)}, source_latents=source[i : i + 1], height=8, width=8, guidance=1.0)
        for i in range(n)
    ]
    valid = torch.ones(n, dtype=torch.bool) if valid is None else torch.tensor(valid)
    return RolloutBatch(
        clean=clean,
        conditions=conds,
        credit=Credit.single(torch.tensor(r, dtype=torch.float32), valid),
        edit_masks=edit_mask,
        seeds=list(range(n)),
    )


def _settings(regularizer=None, kl_weight=0.0, steps=3):
    return StepSettings(
        timesteps=torch.linspace(0.9, 0.3, steps, dtype=torch.float64),
        num_timesteps=steps,
        micro_batch_size=2,
        beta=1.0,
        adv_clip_max=5.0,
        kl_weight=kl_weight,
        regularizer=regularizer,
    )


def _unpack(z):
    return unpack_latents(z, GRID)


def _grid(values):
    return pack_latents(torch.as_tensor(values, dtype=torch.float32).reshape(1, 1, *GRID))


def _grad(policies, batch, settings):
    policies.p.grad = None
    accumulate_gradients(batch, policies, settings, unpack=_unpack, pack=pack_latents)
    return policies.p.grad.clone()


def test_high_reward_pulls_towards_the_sample_and_low_reward_pushes_away():
    x0 = torch.zeros(1, 4, 4)
    source = torch.zeros(1, 4, 4)
    mask = torch.zeros(1, 1, *GRID)
    for r, moves_closer in ((1.0, True), (0.0, False)):
        p = torch.full((1, 4, 4), 1.0, requires_grad=True)
        policies = FreePolicies(p, q=torch.full((1, 4, 4), 1.0))
        g = _grad(policies, _batch(x0, source, mask, [r]), _settings())
        after = p.detach() - 0.1 * g
        assert (after.abs().mean() < 1.0) == moves_closer, (r, after.mean())


def test_the_negative_branch_extrapolates_from_the_old_policy():
    # r = 0 trains x0_neg = 2 Q - P towards the sample x0 = 0, i.e. P towards 2 Q: with Q = -1 the
    # update lowers P. Were the old prediction the current one (Q = P), it would raise P instead.
    x0, source, mask = torch.zeros(1, 4, 4), torch.zeros(1, 4, 4), torch.zeros(1, 1, *GRID)
    p = torch.full((1, 4, 4), 1.0, requires_grad=True)
    g = _grad(FreePolicies(p, q=torch.full((1, 4, 4), -1.0)), _batch(x0, source, mask, [0.0]), _settings())
    assert (g > 0).all()  # descent lowers P
    g_same = _grad(FreePolicies(p, q=p.detach().clone()), _batch(x0, source, mask, [0.0]), _settings())
    assert (g_same < 0).all()


def test_keep_term_acts_on_the_keep_region_only_and_pulls_towards_the_source():
    # Edit region: the left half of the 4x4 latent grid (1 = edit). No erosion, no ring weight.
    edit = torch.zeros(1, 1, *GRID)
    edit[..., :2] = 1.0
    x0 = torch.zeros(1, 4, 4)
    source = _grid(torch.full(GRID, 0.5))
    p = _grid(torch.full(GRID, 2.0)).requires_grad_(True)
    policies = FreePolicies(p, q=p.detach().clone())
    batch = _batch(x0, source, edit, [1.0])
    keep_only = RegularizerConfig(
        lambda_ner=10.0, lambda_er=0.0, tau_pos=0.0, erode_radius=0, ring_weight=0.0, positive_target="source"
    )
    diff = _unpack(_grad(policies, batch, _settings(keep_only)) - _grad(policies, batch, _settings()))[0, 0]
    assert diff[:, :2].abs().max() == 0  # the edit region is never pulled by the keep term
    assert (diff[:, 2:] > 0).all()  # descent lowers P (2.0) towards the source (0.5) on the keep region


def test_edit_term_acts_on_the_edit_region_only():
    edit = torch.zeros(1, 1, *GRID)
    edit[..., :2] = 1.0
    x0 = torch.zeros(1, 4, 4)
    source = torch.zeros(1, 4, 4)
    p = _grid(torch.full(GRID, 0.01)).requires_grad_(True)
    policies = FreePolicies(p, q=p.detach().clone())
    batch = _batch(x0, source, edit, [0.0])
    edit_only = RegularizerConfig(lambda_ner=0.0, lambda_er=10.0, tau_neg=1.0, erode_radius=0, ring_weight=0.0)
    diff = _unpack(_grad(policies, batch, _settings(edit_only)) - _grad(policies, batch, _settings()))[0, 0]
    assert diff[:, 2:].abs().max() == 0
    assert diff[:, :2].abs().min() > 0


def test_invalid_samples_give_no_gradient_and_a_nan_loss_is_named():
    x0, source, mask = torch.zeros(2, 4, 4), torch.zeros(2, 4, 4), torch.zeros(2, 1, *GRID)
    p = torch.randn(2, 4, 4, requires_grad=True)
    g = _grad(FreePolicies(p, q=torch.randn(2, 4, 4)), _batch(x0, source, mask, [1.0, 0.2], [True, False]), _settings())
    assert g[1].abs().max() == 0 and g[0].abs().max() > 0
    bad = FreePolicies(torch.full((2, 4, 4), float("nan"), requires_grad=True), q=torch.zeros(2, 4, 4))
    with pytest.raises(NonFiniteError, match=r"micro-batch 1/1, timestep pass 1/3 \(policy nan"):
        accumulate_gradients(_batch(x0, source, mask, [1.0, 0.0]), bad, _settings(), unpack=_unpack, pack=pack_latents)


def test_keep_term_pulls_towards_the_sample_when_positive_target_is_sample():
    # The rollout sample drifted to 1.0 on the keep region; the source is 0.5 there and P is 2.0.
    # With positive_target "sample" the keep term's pull goes to 1.0: from P = 2.0 both pull down,
    # so put P between them (0.8): towards the sample is up, towards the source down.
    edit = torch.zeros(1, 1, *GRID)
    edit[..., :2] = 1.0
    x0 = _grid(torch.full(GRID, 1.0))
    source = _grid(torch.full(GRID, 0.5))
    p = _grid(torch.full(GRID, 0.8)).requires_grad_(True)
    policies = FreePolicies(p, q=p.detach().clone())
    batch = _batch(x0, source, edit, [1.0])
    diffs = {}
    for target in ("sample", "source"):
        keep_only = RegularizerConfig(
            lambda_ner=10.0, lambda_er=0.0, tau_pos=0.0, erode_radius=0, ring_weight=0.0, positive_target=target
        )
        diffs[target] = _unpack(_grad(policies, batch, _settings(keep_only)) - _grad(policies, batch, _settings()))
    assert (diffs["sample"][0, 0, :, 2:] < 0).all()  # descent raises P towards the sample (1.0)
    assert (diffs["source"][0, 0, :, 2:] > 0).all()  # descent lowers P towards the source (0.5)


def test_kl_term_pulls_the_policy_towards_the_reference():
    # P = Q and r = 1/2: the NFT term's gradient is 0 (it only moves P away from Q), so what is left
    # is the KL term, which must move P towards the reference's prediction R.
    x0, source, mask = torch.zeros(1, 4, 4), torch.zeros(1, 4, 4), torch.zeros(1, 1, *GRID)
    p = torch.full((1, 4, 4), 1.0, requires_grad=True)
    policies = FreePolicies(p, q=p.detach().clone(), ref=torch.full((1, 4, 4), -1.0))
    assert _grad(policies, _batch(x0, source, mask, [0.5]), _settings()).abs().max() == 0
    g = _grad(policies, _batch(x0, source, mask, [0.5]), _settings(kl_weight=1.0))
    assert (g > 0).all()  # descent lowers P towards R = -1
