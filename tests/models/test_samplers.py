"""Samplers on flows with a known exact velocity (Gaussian data, Gaussian noise)."""

import math

import pytest
import torch

from cocoedit.models.samplers import (
    dpm_solver_2m_sample,
    euler_sample,
    euler_step,
    flow_grpo_sde_sample,
    flow_grpo_sde_step,
    sample,
)

MU, S = 2.0, 0.5  # data x0 ~ N(MU, S^2), noise eps ~ N(0, 1), x_t = (1 - t) x0 + t eps


def exact_velocity(x: torch.Tensor, t: float) -> torch.Tensor:
    """E[eps - x0 | x_t] for the Gaussian-to-Gaussian flow."""
    var = (1 - t) ** 2 * S**2 + t**2
    centred = x - (1 - t) * MU
    e_eps = t / var * centred
    e_x0 = MU + (1 - t) * S**2 / var * centred
    return e_eps - e_x0


def exact_endpoint(z: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE maps noise z (at t = 1) to MU + S z (at t = 0)."""
    return MU + S * z


def linear_sigmas(n: int) -> list[float]:
    return [1 - i / n for i in range(n + 1)]


def test_exact_velocity_is_consistent():
    # Along the exact affine ODE solution x_t = (1 - t) MU + sqrt(var_t) z, dx/dt equals v.
    z = torch.tensor([0.3, -1.2], dtype=torch.float64)
    t, dt = 0.4, 1e-6
    x = lambda t: (1 - t) * MU + math.sqrt((1 - t) ** 2 * S**2 + t**2) * z  # noqa: E731
    assert torch.allclose((x(t + dt) - x(t - dt)) / (2 * dt), exact_velocity(x(t), t), atol=1e-6)


def test_euler_step_by_hand():
    x, v = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    assert torch.equal(euler_step(x, v, 0.8, 0.6), torch.tensor([0.9, 2.2]))


def test_dpm2_beats_euler_at_10_steps_and_both_converge():
    z = torch.randn(4096, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    target = exact_endpoint(z)
    steps = (10, 40, 160)
    rms = {}
    for name, fn in (("euler", euler_sample), ("dpm2", dpm_solver_2m_sample)):
        rms[name] = [
            (fn(exact_velocity, z, linear_sigmas(n)).sample - target).pow(2).mean().sqrt().item() for n in steps
        ]
    assert rms["dpm2"][0] < rms["euler"][0] / 3
    for name in rms:
        assert all(b < a for a, b in zip(rms[name], rms[name][1:], strict=False)), (name, rms[name])
    # Euler is first order (4x the steps, about 4x less error); DPM2 does markedly better.
    assert 3 < rms["euler"][1] / rms["euler"][2] < 5
    assert rms["dpm2"][1] / rms["dpm2"][2] > 6
    assert rms["dpm2"][2] < 1e-3


def test_trajectory_holds_every_state():
    z = torch.randn(8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for name in ("euler", "dpm2", "sde"):
        out = sample(name, exact_velocity, z, linear_sigmas(6), return_trajectory=True, generator=torch.Generator())
        assert len(out.trajectory) == 7
        assert out.trajectory[0] is z
        assert torch.equal(out.trajectory[-1], out.sample)


def test_dpm2_first_and_last_steps_are_ddim():
    # With two steps, both are DDIM (= Euler) steps: dpm2 equals Euler exactly.
    z = torch.randn(16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    sig = [1.0, 0.4, 0.0]
    assert torch.allclose(
        dpm_solver_2m_sample(exact_velocity, z, sig).sample, euler_sample(exact_velocity, z, sig).sample
    )


def test_sde_with_zero_noise_is_euler():
    z = torch.randn(16, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    sig = linear_sigmas(8)
    sde = flow_grpo_sde_sample(exact_velocity, z, sig, noise_level=0.0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(sde.sample, euler_sample(exact_velocity, z, sig).sample, atol=1e-12)


def test_sde_step_formula_by_hand():
    x, v, noise = torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([0.5])
    sigma, nxt, eta = 0.5, 0.25, 0.7
    g = eta * math.sqrt(0.5 / 0.5)
    mean = 1.0 + (2.0 + g * g / (2 * 0.5) * (1.0 + 0.5 * 2.0)) * (nxt - sigma)
    std = g * math.sqrt(0.25)
    out, m, s = flow_grpo_sde_step(x, v, sigma, nxt, eta, noise, sigma_for_one=0.9)
    assert m.item() == pytest.approx(mean) and s == pytest.approx(std)
    assert out.item() == pytest.approx(mean + std * 0.5)
    # At sigma = 1 the denominator uses sigma_for_one instead of 0.
    _, _, s1 = flow_grpo_sde_step(x, v, 1.0, 0.9, eta, noise, sigma_for_one=0.9)
    assert s1 == pytest.approx(eta * math.sqrt(1.0 / 0.1) * math.sqrt(0.1))


def test_sde_samples_the_data_distribution():
    # The SDE keeps the flow's marginals: the endpoints' mean and std approach MU and S.
    z = torch.randn(20000, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    sig = [1.0 - i / 100 for i in range(100)] + [0.0]
    out = flow_grpo_sde_sample(exact_velocity, z, sig, noise_level=0.7, generator=torch.Generator().manual_seed(5))
    assert out.sample.mean().item() == pytest.approx(MU, abs=0.03)
    assert out.sample.std().item() == pytest.approx(S, abs=0.05)
    assert not torch.allclose(out.sample, exact_endpoint(z), atol=0.05)  # it is stochastic


@pytest.mark.parametrize(
    "sigmas, message",
    [([1.0], "at least two"), ([0.5, 0.7, 0.0], "decreasing"), ([1.5, 0.0], "lie in"), ([1.0, 0.5, -0.1], "lie in")],
)
def test_bad_sigmas_are_refused(sigmas, message):
    with pytest.raises(ValueError, match=message):
        euler_sample(exact_velocity, torch.zeros(2), sigmas)


def test_unknown_sampler_and_negative_noise():
    with pytest.raises(ValueError, match="unknown sampler 'heun'"):
        sample("heun", exact_velocity, torch.zeros(2), [1.0, 0.0])
    with pytest.raises(ValueError, match="noise_level"):
        flow_grpo_sde_sample(exact_velocity, torch.zeros(2), [1.0, 0.0], noise_level=-1)


def test_sde_last_step_adds_no_noise():
    # The step to sigma 0 is the Euler step: from the trajectory's second-to-last state, the sample
    # is exactly its clean prediction, whatever the noise level.
    z = torch.randn(64, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    sig = linear_sigmas(5)
    out = flow_grpo_sde_sample(
        exact_velocity, z, sig, noise_level=2.0, generator=torch.Generator().manual_seed(7), return_trajectory=True
    )
    before = out.trajectory[-2]
    assert torch.equal(out.sample, euler_step(before, exact_velocity(before, sig[-2]), sig[-2], 0.0))


def test_sde_with_a_generator_per_sample_does_not_depend_on_the_batch():
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    sig = linear_sigmas(4)

    def gens(seeds):
        return [torch.Generator().manual_seed(s) for s in seeds]

    together = flow_grpo_sde_sample(exact_velocity, z, sig, noise_level=0.7, generator=gens([10, 11, 12, 13])).sample
    alone = flow_grpo_sde_sample(exact_velocity, z[2:3], sig, noise_level=0.7, generator=gens([12])).sample
    assert torch.equal(together[2:3], alone)
    other = flow_grpo_sde_sample(exact_velocity, z[2:3], sig, noise_level=0.7, generator=gens([99])).sample
    assert not torch.allclose(other, alone)
    with pytest.raises(ValueError, match="2 generators for a batch of 4"):
        flow_grpo_sde_sample(exact_velocity, z, sig, generator=gens([1, 2]))
