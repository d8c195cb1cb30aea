"""DiffusionNFT policy loss and KL term on hand-checkable tensors."""

import pytest
import torch

from cocoedit.models.flow import x0_from_velocity
from cocoedit.rl.nft_loss import adaptive_x0_loss, kl_to_reference, nft_policy_loss, nft_velocities


def test_velocities_and_their_gradients():
    v_theta = torch.tensor([1.0, 2.0], requires_grad=True)
    v_old = torch.tensor([0.5, 0.5], requires_grad=True)
    v_pos, v_neg = nft_velocities(v_theta, v_old, beta=1.0)
    assert v_pos.tolist() == [1.0, 2.0] and v_neg.tolist() == [0.0, -1.0]
    (v_pos.sum() + 2 * v_neg.sum()).backward()
    assert v_theta.grad.tolist() == [-1.0, -1.0]  # +1 from v+, -2 from v-
    assert v_old.grad is None  # the old policy is a constant
    v_pos, v_neg = nft_velocities(torch.tensor([1.0]), torch.tensor([3.0]), beta=0.5)
    assert v_pos.item() == pytest.approx(2.0) and v_neg.item() == pytest.approx(4.0)


def test_x0_recovered_from_the_true_velocity():
    gen = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 4, 5, generator=gen), torch.randn(3, 4, 5, generator=gen)
    t = torch.tensor([0.1, 0.5, 0.9])
    x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
    assert torch.allclose(x0_from_velocity(x_t, t, eps - x0), x0, atol=1e-6)


def test_adaptive_loss_of_a_constant_offset_is_its_size():
    x0 = torch.zeros(2, 3, 4)
    pred = torch.stack([torch.full((3, 4), 0.3), torch.full((3, 4), -2.0)])
    assert adaptive_x0_loss(pred, x0).tolist() == pytest.approx([0.3, 2.0])


def make_batch(r, valid):
    gen = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(2, 6, 4, generator=gen), torch.randn(2, 6, 4, generator=gen)
    t = torch.tensor([0.3, 0.7])
    x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
    v_true = eps - x0
    return dict(r=torch.tensor(r), x_t=x_t, x0=x0, t=t, valid=torch.tensor(valid)), v_true


def test_policy_loss_by_hand():
    batch, v_true = make_batch([1.0, 0.0], [True, True])
    offset = torch.full_like(v_true, 0.1)
    v_theta = (v_true + offset).requires_grad_()
    out = nft_policy_loss(v_theta=v_theta, v_old=v_true, **batch)
    # x0+ = x0 - t * 0.1 and x0- = x0 + t * 0.1: both losses are t * 0.1 per sample.
    assert out.positive.tolist() == pytest.approx([0.03, 0.07], rel=1e-4)
    assert out.negative.tolist() == pytest.approx([0.03, 0.07], rel=1e-4)
    # r = (1, 0): sample 0 uses l+, sample 1 uses l-; mean over 2 valid, times adv_clip_max 5.
    assert out.loss.item() == pytest.approx(5 * (0.03 + 0.07) / 2, rel=1e-4)


def test_high_reward_pulls_towards_the_sample_and_low_reward_pushes_away():
    batch, v_true = make_batch([1.0, 1.0], [True, True])
    v_theta = (v_true + 0.2 * torch.randn(v_true.shape, generator=torch.Generator().manual_seed(2))).requires_grad_()
    v_old = v_theta.detach().clone()
    nft_policy_loss(v_theta=v_theta, v_old=v_old, **batch).loss.backward()
    stepped = v_theta.detach() - 0.01 * v_theta.grad
    before = (v_theta.detach() - v_true).square().sum()
    assert (stepped - v_true).square().sum() < before  # r = 1: move towards the sample's velocity
    batch["r"] = torch.tensor([0.0, 0.0])
    v_theta.grad = None
    nft_policy_loss(v_theta=v_theta, v_old=v_old, **batch).loss.backward()
    stepped = v_theta.detach() - 0.01 * v_theta.grad
    assert (stepped - v_true).square().sum() > before  # r = 0: move away from it


def test_invalid_samples_add_nothing_even_with_nan_r():
    batch, v_true = make_batch([float("nan"), 1.0], [False, True])
    v_theta = (v_true + 0.1).requires_grad_()
    out = nft_policy_loss(v_theta=v_theta, v_old=v_true, **batch)
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.loss.item() == pytest.approx(5 * 0.07, rel=1e-4)
    assert v_theta.grad[0].abs().sum() == 0 and v_theta.grad[1].abs().sum() > 0
    batch["valid"] = torch.tensor([False, False])
    v_theta.grad = None
    none = nft_policy_loss(v_theta=v_theta, v_old=v_true, **batch)
    none.loss.backward()
    assert none.loss.item() == 0.0 and v_theta.grad.abs().sum() == 0


def test_kl_term_by_hand():
    v_theta = torch.zeros(2, 3, requires_grad=True)
    v_ref = torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    assert kl_to_reference(v_theta, v_ref, torch.tensor([True, True]), weight=1.0).item() == pytest.approx(2.5)
    assert kl_to_reference(v_theta, v_ref, torch.tensor([True, False]), weight=1e-4).item() == pytest.approx(1e-4)


def test_per_element_r_and_weight():
    # r constant over a sample and weight 1: the per-sample loss, exactly the [B] r's.
    batch, v_true = make_batch([0.8, 0.3], [True, True])
    v_theta = v_true + 0.1 * torch.randn(v_true.shape, generator=torch.Generator().manual_seed(3))
    v_old = v_true.clone()
    per_sample = nft_policy_loss(v_theta=v_theta, v_old=v_old, **batch).loss
    r_map = batch["r"][:, None, None].expand(-1, 6, 4)
    per_element = nft_policy_loss(v_theta=v_theta, v_old=v_old, **{**batch, "r": r_map}, weight=torch.ones(2, 6, 4))
    assert per_element.loss.item() == pytest.approx(per_sample.item(), rel=1e-6)
    # Elements of weight 0 get no gradient and add nothing; weight 1/2 halves an element's term.
    weight = torch.ones(2, 6, 4)
    weight[:, :3] = 0.0
    leaf = v_theta.clone().requires_grad_()
    nft_policy_loss(v_theta=leaf, v_old=v_old, **{**batch, "r": r_map}, weight=weight).loss.backward()
    assert leaf.grad[:, :3].abs().max() == 0 and leaf.grad[:, 3:].abs().min() > 0
    half = nft_policy_loss(v_theta=v_theta, v_old=v_old, **{**batch, "r": r_map}, weight=torch.full((2, 6, 4), 0.5))
    assert half.loss.item() == pytest.approx(per_sample.item() / 2, rel=1e-6)
