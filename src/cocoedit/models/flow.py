"""The flow convention, written once: every editor cocoedit trains is a rectified flow.

``x_t = (1 - t) x0 + t eps`` for ``t`` in [0, 1] (``t = 1`` is pure noise), and the model predicts
the velocity ``v = eps - x0``. The signal coefficient is ``alpha(t) = 1 - t`` and the log
signal-to-noise ratio ``log(alpha / t)`` (:func:`alpha`, :func:`log_snr`). From any prediction
``v`` at ``x_t`` follow the clean image ``x0_hat = x_t - t v`` and the noise
``eps_hat = x_t + (1 - t) v``; a model that predicts the clean image gives back
``v = (x_t - x0_hat) / t``.

The sampler (:mod:`cocoedit.models.samplers`), the supervised training of the demo editor, the
RL step and the NFT loss all use these functions. ``t`` is a Python float (one value for the
batch) or a tensor ``[B]`` (one per sample), broadcast over every other dimension of the latents
``[B, ...]``.
"""

from __future__ import annotations

import math

import torch

Time = float | torch.Tensor


def _per_sample(t: Time, like: torch.Tensor) -> Time:
    if isinstance(t, torch.Tensor):
        return t.reshape(-1, *([1] * (like.ndim - 1))).to(device=like.device, dtype=like.dtype)
    return t


def alpha(t: Time) -> Time:
    """The signal coefficient ``alpha(t) = 1 - t`` of ``x_t = alpha(t) x0 + t eps``."""
    return 1 - t


def log_snr(t: float) -> float:
    """``lambda(t) = log(alpha(t) / t)``; -inf at ``t = 1`` (pure noise)."""
    return -math.inf if t >= 1.0 else math.log(alpha(t) / t)


def noisy(x0: torch.Tensor, eps: torch.Tensor, t: Time) -> torch.Tensor:
    """``x_t = (1 - t) x0 + t eps``."""
    t = _per_sample(t, x0)
    return alpha(t) * x0 + t * eps


def velocity_target(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The velocity a perfect model predicts at every ``t``: ``eps - x0``."""
    return eps - x0


def x0_from_velocity(x_t: torch.Tensor, t: Time, v: torch.Tensor) -> torch.Tensor:
    """``x0_hat = x_t - t v``."""
    return x_t - _per_sample(t, x_t) * v


def eps_from_velocity(x_t: torch.Tensor, t: Time, v: torch.Tensor) -> torch.Tensor:
    """``eps_hat = x_t + (1 - t) v``."""
    return x_t + alpha(_per_sample(t, x_t)) * v


def velocity_from_x0(x_t: torch.Tensor, t: Time, x0: torch.Tensor, min_t: float = 1e-3) -> torch.Tensor:
    """``v = (x_t - x0_hat) / t``, ``t`` clamped at ``min_t`` (samplers never evaluate at 0)."""
    t = _per_sample(t, x_t)
    t = t.clamp_min(min_t) if isinstance(t, torch.Tensor) else max(t, min_t)
    return (x_t - x0) / t
