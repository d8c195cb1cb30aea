"""DiffusionNFT policy loss and the KL-like term to the reference model (method.md §b.4–§b.8).

Conventions: the flow of :mod:`cocoedit.models.flow` (``x_t = (1 - t) x0 + t eps``, ``v = eps -
x0``, ``x0_hat = x_t - t v``). Latents are any ``[B, ...]`` tensor (packed tokens ``[B, N, C]`` or
unpacked ``[B, C, h, w]``); ``t`` is ``[B]`` in (0, 1]; ``valid`` is ``[B]``. ``r`` is ``[B]`` (one
optimality probability per sample, the paper) or, for region-aware credit, a per-element map
shaped like the latents (:func:`cocoedit.rl.advantages.credit_maps`) with a per-element weight
map beside it.

Reductions follow the reference: per-sample means over all latent elements, then a sum over valid
samples divided by the number of valid samples (0 when none is valid: the caller should then skip
the optimizer step, see ``docs/training.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cocoedit.models.flow import x0_from_velocity


def nft_velocities(v_theta: torch.Tensor, v_old: torch.Tensor, beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive and implicit-negative velocities.

    ``v+ = beta v_theta + (1 - beta) sg(v_old)``, ``v- = (1 + beta) sg(v_old) - beta v_theta``;
    the old policy's prediction never carries gradient.
    """
    v_old = v_old.detach()
    return beta * v_theta + (1 - beta) * v_old, (1 + beta) * v_old - beta * v_theta


def adaptive_x0_error(x0_pred: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Per element ``(x0_pred - x0)^2 / max(mean|x0_pred - x0|, 1e-5)``, shaped like ``x0_pred``.

    The weight is the sample's mean absolute error, computed in float64 without gradient
    (DiffusionNFT's adaptive weighting); the error is float32.
    """
    diff = (x0_pred - x0.detach()).float()
    dims = tuple(range(1, diff.ndim))
    with torch.no_grad():
        weight = diff.double().abs().mean(dim=dims, keepdim=True).clamp_min(1e-5)
    return diff.square() / weight.float()


def adaptive_x0_loss(x0_pred: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Per-sample ``mean((x0_pred - x0)^2) / max(mean|x0_pred - x0|, 1e-5)``, shape ``[B]``."""
    error = adaptive_x0_error(x0_pred, x0)
    return error.mean(dim=tuple(range(1, error.ndim)))


def _valid_mean(per_sample: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    v = valid.to(per_sample.dtype)
    return (per_sample * v).sum() / v.sum().clamp_min(1)


@dataclass(frozen=True)
class PolicyLoss:
    """``loss`` is the scalar to back-propagate; the rest are ``[B]`` diagnostics (detached)."""

    loss: torch.Tensor
    positive: torch.Tensor
    negative: torch.Tensor
    x0_positive: torch.Tensor
    x0_negative: torch.Tensor


def nft_policy_loss(
    r: torch.Tensor,
    v_theta: torch.Tensor,
    v_old: torch.Tensor,
    x_t: torch.Tensor,
    x0: torch.Tensor,
    t: torch.Tensor,
    valid: torch.Tensor,
    *,
    beta: float = 1.0,
    adv_clip_max: float = 5.0,
    weight: torch.Tensor | None = None,
) -> PolicyLoss:
    """DiffusionNFT loss: ``adv_clip_max * sum_j valid_j (r_j l+_j + (1 - r_j) l-_j) / beta / sum valid``.

    ``l+`` / ``l-`` are :func:`adaptive_x0_loss` of the positive / negative x0-predictions. The
    factor ``adv_clip_max / beta`` is the reference's scaling (method.md §b.7); the x0-predictions
    are returned (with gradient) for the region regularizers. Samples with ``valid=False`` add
    nothing, whatever their ``r`` (which may be NaN).

    With a per-element ``r`` (shaped like the latents) and ``weight`` (the same shape, in [0, 1]),
    each sample's term is ``mean_e weight_e (r_e l+_e + (1 - r_e) l-_e)`` over the elements of
    :func:`adaptive_x0_error`: region-aware credit. With ``r`` constant over a sample and
    ``weight`` 1 this is the per-sample loss above.
    """
    v_pos, v_neg = nft_velocities(v_theta, v_old, beta)
    x0_pos = x0_from_velocity(x_t, t, v_pos)
    x0_neg = x0_from_velocity(x_t, t, v_neg)
    e_pos, e_neg = adaptive_x0_error(x0_pos, x0), adaptive_x0_error(x0_neg, x0)
    dims = tuple(range(1, e_pos.ndim))
    r = (r if r.ndim == e_pos.ndim else r.reshape(-1, *([1] * len(dims)))).expand_as(e_pos)
    w = torch.ones_like(e_pos) if weight is None else weight.to(e_pos.dtype).expand_as(e_pos)
    counted = valid.reshape(-1, *([1] * len(dims))) & (w > 0)
    r = torch.where(counted, r, torch.zeros_like(r)).to(e_pos.dtype)  # NaN r where nothing counts
    per_sample = (w * (r * e_pos + (1 - r) * e_neg)).mean(dim=dims) / beta
    loss = adv_clip_max * _valid_mean(per_sample, valid)
    return PolicyLoss(loss, e_pos.mean(dim=dims).detach(), e_neg.mean(dim=dims).detach(), x0_pos, x0_neg)


def kl_to_reference(
    v_theta: torch.Tensor, v_ref: torch.Tensor, valid: torch.Tensor, weight: float = 1e-4
) -> torch.Tensor:
    """``weight * sum_j valid_j mean((v_theta - v_ref)^2)_j / sum valid`` (method.md §b.8).

    ``v_ref`` is the prediction with all adapters disabled; it carries no gradient.
    """
    dims = tuple(range(1, v_theta.ndim))
    per_sample = (v_theta - v_ref.detach()).float().square().mean(dim=dims)
    return weight * _valid_mean(per_sample, valid)


def trained_timesteps(steps: int, fraction: float) -> int:
    """How many of a rollout's ``steps`` timesteps each sample trains on: ``int(steps · fraction)``
    (the reference's rule; ``CocoEditConfig`` refuses a fraction that makes it 0)."""
    return int(steps * fraction)


def minimum_timestep_fraction(steps: int) -> float:
    """The smallest ``nft.timestep_fraction`` that trains on one of ``steps`` timesteps."""
    fraction = 1.0 / steps
    while trained_timesteps(steps, fraction) < 1:  # 1/steps may round below it
        fraction = float(np.nextafter(fraction, 2.0))
    return fraction
