"""The flow convention on hand-checkable numbers: noising, the velocity target and the three
conversions, with one t for the batch or one per sample."""

import math

import pytest
import torch

from cocoedit.models.flow import (
    alpha,
    eps_from_velocity,
    log_snr,
    noisy,
    velocity_from_x0,
    velocity_target,
    x0_from_velocity,
)


def test_noising_and_conversions_by_hand():
    x0, eps = torch.tensor([[2.0, -1.0]]), torch.tensor([[0.5, 1.0]])
    x_t = noisy(x0, eps, 0.25)
    assert x_t.tolist() == [[0.75 * 2.0 + 0.25 * 0.5, 0.75 * -1.0 + 0.25 * 1.0]]
    v = velocity_target(x0, eps)
    assert v.tolist() == [[-1.5, 2.0]]
    assert x0_from_velocity(x_t, 0.25, v)[0].tolist() == pytest.approx([2.0, -1.0])
    assert eps_from_velocity(x_t, 0.25, v)[0].tolist() == pytest.approx([0.5, 1.0])
    assert velocity_from_x0(x_t, 0.25, x0)[0].tolist() == pytest.approx([-1.5, 2.0])


def test_one_t_per_sample_broadcasts_over_every_other_dimension():
    gen = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 4, 5, generator=gen), torch.randn(3, 4, 5, generator=gen)
    t = torch.tensor([0.1, 0.5, 0.9])
    x_t = noisy(x0, eps, t)
    for i in range(3):
        assert torch.allclose(x_t[i], noisy(x0[i : i + 1], eps[i : i + 1], float(t[i]))[0])
    v = velocity_target(x0, eps)
    assert torch.allclose(x0_from_velocity(x_t, t, v), x0, atol=1e-6)
    assert torch.allclose(eps_from_velocity(x_t, t, v), eps, atol=1e-6)
    assert torch.allclose(velocity_from_x0(x_t, t, x0), v, atol=1e-5)


def test_velocity_from_x0_clamps_small_t():
    x_t, x0 = torch.ones(2, 1), torch.zeros(2, 1)
    assert velocity_from_x0(x_t, torch.tensor([0.0, 0.5]), x0, min_t=0.01).flatten().tolist() == [100.0, 2.0]
    assert velocity_from_x0(x_t, 0.0, x0, min_t=0.5).flatten().tolist() == [2.0, 2.0]


def test_alpha_and_log_snr_by_hand():
    assert alpha(0.25) == 0.75 and torch.equal(alpha(torch.tensor([0.0, 1.0])), torch.tensor([1.0, 0.0]))
    assert log_snr(0.5) == 0.0
    assert log_snr(0.2) == pytest.approx(math.log(4.0))
    assert log_snr(1.0) == -math.inf
