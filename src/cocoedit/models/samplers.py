"""Flow-matching samplers: pure functions over a velocity callable.

Convention (:mod:`cocoedit.models.flow`): ``x_σ = (1 − σ) x0 + σ ε``, the model predicts
``v ≈ ε − x0``, so ``x̂0 = x − σ v`` and ``ε̂ = x + (1 − σ) v``; ``α(σ) = 1 − σ``,
``λ(σ) = log(α/σ)``.

A *velocity* is any callable ``velocity(x, sigma) -> v`` with ``v`` shaped like ``x`` and
``sigma`` a Python float (the same for the whole batch). ``sigmas`` is a decreasing 1-D sequence
``σ_0 > σ_1 > … > σ_N`` (usually ``σ_0 = 1``, ``σ_N = 0``; see
:meth:`cocoedit.models.backbone.EditBackbone.sigma_schedule`); sampling makes ``N`` steps and
calls the velocity ``N`` times. Sigma arithmetic is float64 (Python floats); samples keep the
dtype of ``x``.

Every sampler returns a :class:`SamplerOutput`; with ``return_trajectory=True`` it also holds the
``N + 1`` states ``x_{σ_0} … x_{σ_N}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from cocoedit.models.flow import alpha, eps_from_velocity, log_snr, x0_from_velocity

Velocity = Callable[[torch.Tensor, float], torch.Tensor]
SAMPLER_NAMES: tuple[str, ...] = ("euler", "dpm2", "sde")


@dataclass
class SamplerOutput:
    """The final sample and, if requested, every intermediate state (``trajectory[0]`` = input)."""

    sample: torch.Tensor
    trajectory: list[torch.Tensor] | None = None


def _as_floats(sigmas: Sequence[float] | torch.Tensor) -> list[float]:
    values = [float(s) for s in (sigmas.tolist() if isinstance(sigmas, torch.Tensor) else sigmas)]
    if len(values) < 2:
        raise ValueError(f"need at least two sigmas (one step), got {len(values)}")
    if any(b >= a for a, b in zip(values, values[1:], strict=False)):
        raise ValueError(f"sigmas must be strictly decreasing, got {values}")
    if values[0] > 1.0 or values[-1] < 0.0:
        raise ValueError(f"sigmas must lie in [0, 1], got {values[0]} .. {values[-1]}")
    return values


def euler_step(x: torch.Tensor, v: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
    """One Euler ODE step ``x + (σ_next − σ) v`` (identical to DDIM with η = 0 on a flow)."""
    return x + (sigma_next - sigma) * v


def euler_sample(
    velocity: Velocity, x: torch.Tensor, sigmas: Sequence[float] | torch.Tensor, return_trajectory: bool = False
) -> SamplerOutput:
    """Euler ODE sampling, as diffusers' ``FlowMatchEulerDiscreteScheduler.step``."""
    s = _as_floats(sigmas)
    traj = [x] if return_trajectory else None
    for sigma, sigma_next in zip(s, s[1:], strict=False):
        x = euler_step(x, velocity(x, sigma), sigma, sigma_next)
        if traj is not None:
            traj.append(x)
    return SamplerOutput(x, traj)


def dpm_solver_2m_step(
    x: torch.Tensor, x0_pred: torch.Tensor, x0_prev: torch.Tensor, sigma_prev: float, sigma: float, sigma_next: float
) -> torch.Tensor:
    """One second-order multistep DPM-Solver++ (data prediction) step, 0 < σ_next < σ < 1.

    ``h = λ_next − λ``, ``r0 = (λ − λ_prev)/h``, ``D0 = x̂0``, ``D1 = (x̂0 − x̂0_prev)/r0``;
    ``x_next = (σ_next/σ) x − α_next (e^{−h} − 1) (D0 + D1/2)``. When ``σ_prev = 1``,
    ``λ_prev = −∞`` so ``r0 = ∞`` and ``D1 = 0``: the step falls back to first order.
    """
    lam, lam_next, lam_prev = log_snr(sigma), log_snr(sigma_next), log_snr(sigma_prev)
    h = lam_next - lam
    r0 = (lam - lam_prev) / h
    phi = math.expm1(-h)  # e^{-h} - 1
    alpha_next = alpha(sigma_next)
    d1 = (x0_pred - x0_prev) * (0.0 if math.isinf(r0) else 1.0 / r0)
    return (sigma_next / sigma) * x - (alpha_next * phi) * (x0_pred + 0.5 * d1)


def dpm_solver_2m_sample(
    velocity: Velocity, x: torch.Tensor, sigmas: Sequence[float] | torch.Tensor, return_trajectory: bool = False
) -> SamplerOutput:
    """Deterministic multistep DPM-Solver++(2M), the reference's ``dpm2`` rollout solver.

    The first step and any step to σ = 0 are DDIM (η = 0) steps, which on a flow equal Euler
    steps; every other step is :func:`dpm_solver_2m_step` using the previous step's ``x̂0``.
    """
    s = _as_floats(sigmas)
    traj = [x] if return_trajectory else None
    x0_prev = None
    for i, (sigma, sigma_next) in enumerate(zip(s, s[1:], strict=False)):
        v = velocity(x, sigma)
        x0_pred = x0_from_velocity(x, sigma, v)
        if i == 0 or sigma_next <= 0.0:
            x = euler_step(x, v, sigma, sigma_next)
        else:
            x = dpm_solver_2m_step(x, x0_pred, x0_prev, s[i - 1], sigma, sigma_next)
        x0_prev = x0_pred
        if traj is not None:
            traj.append(x)
    return SamplerOutput(x, traj)


def flow_grpo_sde_step(
    x: torch.Tensor,
    v: torch.Tensor,
    sigma: float,
    sigma_next: float,
    noise_level: float,
    noise: torch.Tensor,
    sigma_for_one: float,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One Flow-GRPO SDE step; returns ``(x_next, mean, std)`` with ``x_next = mean + std·noise``.

    ``g = η·sqrt(σ/(1 − σ))`` (σ = 1 in the denominator replaced by ``sigma_for_one``, the
    schedule's second sigma, as in Flow-GRPO); ``dt = σ_next − σ < 0``;
    ``mean = x + [v + g²/(2σ)·(x + (1 − σ) v)]·dt`` (the probability-flow drift plus the
    score correction ``−g²/2 · ∇log p`` with ``∇log p = −ε̂/σ``); ``std = g·sqrt(−dt)``.
    """
    dt = sigma_next - sigma
    denom = alpha(sigma_for_one if sigma >= 1.0 else sigma)
    g = noise_level * math.sqrt(sigma / denom)
    mean = x + (v + (g * g / (2.0 * sigma)) * eps_from_velocity(x, sigma, v)) * dt
    std = g * math.sqrt(-dt)
    return mean + std * noise, mean, std


def _step_noise(x: torch.Tensor, generator: torch.Generator | Sequence[torch.Generator] | None) -> torch.Tensor:
    """Standard-normal noise shaped like ``x``: from one generator, or one per sample (row of ``x``)."""
    if generator is None or isinstance(generator, torch.Generator):
        return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if len(generator) != x.shape[0]:
        raise ValueError(f"{len(generator)} generators for a batch of {x.shape[0]}")
    # Drawn on the CPU, where each sample's generator lives, then moved: a sample's noise does not
    # depend on which batch it is drawn in.
    return torch.stack([torch.randn(x.shape[1:], generator=g, dtype=x.dtype) for g in generator]).to(x.device)


def flow_grpo_sde_sample(
    velocity: Velocity,
    x: torch.Tensor,
    sigmas: Sequence[float] | torch.Tensor,
    noise_level: float = 0.7,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    return_trajectory: bool = False,
) -> SamplerOutput:
    """Stochastic sampling with :func:`flow_grpo_sde_step` at every step but a last one to σ = 0.

    The step to σ = 0 is the deterministic Euler step, which returns the clean prediction
    ``x̂0``: the sample carries no injected noise, so rewards and regularizers that compare pixels
    with the source score the image, not the noise (Flow-GRPO injects noise there too, which costs
    its samples a grain that a pixel reward reads as damage). ``noise_level = 0`` reduces the whole
    sampler to :func:`euler_sample`. Step noise is drawn in ``x``'s dtype from ``generator``, or,
    given one generator per sample, from each sample's own (then a sample's rollout does not depend
    on the batch it is drawn in).
    """
    if noise_level < 0:
        raise ValueError(f"noise_level must be >= 0, got {noise_level}")
    s = _as_floats(sigmas)
    traj = [x] if return_trajectory else None
    for sigma, sigma_next in zip(s, s[1:], strict=False):
        v = velocity(x, sigma)
        if sigma_next <= 0.0:
            x = euler_step(x, v, sigma, sigma_next)
        else:
            noise = _step_noise(x, generator)
            x, _, _ = flow_grpo_sde_step(x, v, sigma, sigma_next, noise_level, noise, sigma_for_one=s[1])
        if traj is not None:
            traj.append(x)
    return SamplerOutput(x, traj)


def sample(
    name: str,
    velocity: Velocity,
    x: torch.Tensor,
    sigmas: Sequence[float] | torch.Tensor,
    return_trajectory: bool = False,
    noise_level: float = 0.7,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
) -> SamplerOutput:
    """Dispatch by name: ``"euler"``, ``"dpm2"`` or ``"sde"`` (the last uses ``noise_level`` and
    ``generator``: one, or one per sample)."""
    if name == "euler":
        return euler_sample(velocity, x, sigmas, return_trajectory)
    if name == "dpm2":
        return dpm_solver_2m_sample(velocity, x, sigmas, return_trajectory)
    if name == "sde":
        return flow_grpo_sde_sample(velocity, x, sigmas, noise_level, generator, return_trajectory)
    raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLER_NAMES)}")
