"""Exploration: the initial noise a group's rollouts start from (``sampling.initial_noise``).

Group-relative RL needs the samples of a group to differ where the reward looks. Two choices:

* ``independent`` (the reference): every sample its own standard-normal noise.
* ``localized`` (after RC-GRPO-Editing): the samples of a group share one noise on the keep region
  and differ on the edit region, ``eps_j = (1 - m) eps_g + m (sqrt(1 - s^2) eps_g + s eps_j')``
  with ``m`` the edit mask on the latent grid (1 = edit), ``eps_g`` the group's noise,
  ``eps_j'`` the sample's own and ``s`` = ``sampling.edit_noise_scale`` in [0, 1]. Every element
  stays standard normal; two samples of a group are correlated ``1 - s^2`` on the edit region and
  identical on the keep region. The group's differences then come from the edit region, where
  the edit reward looks, and a keep reward compares samples that started alike there.

A new variant is one function of :data:`INITIAL_NOISE`'s signature and one name in
``sampling.initial_noise``.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch


def independent_noise(own: torch.Tensor, shared: torch.Tensor, edit: torch.Tensor, *, scale: float) -> torch.Tensor:
    """Every sample its own noise (``shared``, ``edit`` and ``scale`` unused)."""
    return own


def localized_noise(own: torch.Tensor, shared: torch.Tensor, edit: torch.Tensor, *, scale: float) -> torch.Tensor:
    """``(1 - m) shared + m (sqrt(1 - s^2) shared + s own)``, all shaped alike (``m`` = ``edit``
    in {0, 1}, broadcastable; ``s`` = ``scale`` in [0, 1])."""
    if not 0.0 <= scale <= 1.0:
        raise ValueError(f"the edit-region noise scale must be in [0, 1], got {scale}")
    edit_noise = math.sqrt(1.0 - scale * scale) * shared + scale * own
    return torch.where(edit.bool(), edit_noise, shared)


class InitialNoise(Protocol):
    """``f(own, shared, edit_mask, *, scale) -> noise``, all packed latents shaped alike."""

    def __call__(
        self, own: torch.Tensor, shared: torch.Tensor, edit: torch.Tensor, *, scale: float
    ) -> torch.Tensor: ...


#: ``sampling.initial_noise`` -> the function (:class:`InitialNoise`).
INITIAL_NOISE: dict[str, InitialNoise] = {"independent": independent_noise, "localized": localized_noise}
