"""CoCoEdit region regularizers ``L_ner+`` and ``L_er-`` (method.md §c).

Conventions: latents ``[B, C, h, w]`` (unpacked, see the backbone's ``unpack_latents``); the edit
mask is ``[B, 1, h, w]`` on the same latent grid with **1 = edit region** (build it with
:func:`cocoedit.core.masks.latent_grid_mask`, which binarises first: decision on §i.13). ``r`` and
``valid`` are ``[B]``.

* ``L_ner+ = relu(d(x0+, target+; W_keep) - tau+)``: the positive (high-reward) prediction must
  stay close to the target on the keep region.
* ``L_er- = relu(tau- - d(x0-, x_src; W_edit))``: the negative (low-reward) prediction must
  differ from the source by at least ``tau-`` on the edit region (against under-editing).
* ``L_reg = sum_j valid_j (r_j lambda_ner L_ner+_j + (1 - r_j) lambda_er L_er-_j) / sum valid``.

Decisions on method.md §i and §c.3:

* §i.8: the positive target is selectable: ``"source"`` (the paper: pull the keep region towards
  the input image; our default) or ``"sample"`` (the reference code: the rollout sample x0).
* §i.12: like the reference, the regularizers are **not** multiplied by ``adv_clip_max / beta``,
  so the reference's lambdas carry over unchanged.
* Weight maps follow the reference: each region eroded by ``erode_radius`` latent pixels, and the
  band between them (the ring) added with ``ring_weight`` to both maps.
* ``d`` is the weighted latent MSE, channels averaged: ``sum W (a - b)^2 / max(C sum W, 1e-6)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from cocoedit.core.masks import erode

PositiveTarget = Literal["source", "sample"]


def region_weight_maps(
    edit_mask: torch.Tensor, erode_radius: int = 2, ring_weight: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W_keep, W_edit)``, each ``[B, 1, h, w]`` in [0, 1], from a binary latent edit mask.

    ``W_keep = clamp(erode(keep) + ring_weight * ring)``, ``W_edit = clamp(erode(edit) +
    ring_weight * ring)``, where ``ring`` is everything in neither eroded region.
    """
    edit = (edit_mask >= 0.5).float()
    keep_core = erode(1.0 - edit, erode_radius)
    edit_core = erode(edit, erode_radius)
    ring = 1.0 - (keep_core + edit_core).clamp(0, 1)
    return (keep_core + ring_weight * ring).clamp(0, 1), (edit_core + ring_weight * ring).clamp(0, 1)


def weighted_latent_distance(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``sum_{c,y,x} W_yx (a - b)^2 / max(C sum_yx W_yx, 1e-6)`` per sample, shape ``[B]``.

    ``a``, ``b``: ``[B, C, h, w]``; ``weight``: ``[B, 1, h, w]``.
    """
    sq = (a.float() - b.float()).square() * weight
    denom = (a.shape[1] * weight.sum(dim=(1, 2, 3))).clamp_min(1e-6)
    return sq.sum(dim=(1, 2, 3)) / denom


@dataclass(frozen=True)
class RegionLoss:
    """``loss`` to back-propagate; ``keep_term`` (L_ner+) and ``edit_term`` (L_er-) per sample,
    ``keep_distance`` / ``edit_distance`` the distances before the hinges (all ``[B]``, detached)."""

    loss: torch.Tensor
    keep_term: torch.Tensor
    edit_term: torch.Tensor
    keep_distance: torch.Tensor
    edit_distance: torch.Tensor


def region_regularizers(
    x0_positive: torch.Tensor,
    x0_negative: torch.Tensor,
    x0_sample: torch.Tensor,
    x_source: torch.Tensor,
    edit_mask: torch.Tensor,
    r: torch.Tensor,
    valid: torch.Tensor,
    lambda_ner: float,
    lambda_er: float,
    tau_pos: float = 1e-3,
    tau_neg: float = 3e-2,
    erode_radius: int = 2,
    ring_weight: float = 0.2,
    positive_target: PositiveTarget = "source",
) -> RegionLoss:
    """The r-weighted region regularizer (see the module docstring)."""
    if positive_target not in ("source", "sample"):
        raise ValueError(f"positive_target must be 'source' or 'sample', got {positive_target!r}")
    w_keep, w_edit = region_weight_maps(edit_mask, erode_radius, ring_weight)
    target = x_source if positive_target == "source" else x0_sample
    d_keep = weighted_latent_distance(x0_positive, target.detach(), w_keep)
    d_edit = weighted_latent_distance(x0_negative, x_source.detach(), w_edit)
    keep_term = torch.relu(d_keep - tau_pos)
    edit_term = torch.relu(tau_neg - d_edit)
    v = valid.to(keep_term.dtype)
    r = torch.where(valid, r, torch.zeros_like(r)).to(keep_term.dtype)
    per_sample = r * lambda_ner * keep_term + (1 - r) * lambda_er * edit_term
    loss = (per_sample * v).sum() / v.sum().clamp_min(1)
    return RegionLoss(loss, keep_term.detach(), edit_term.detach(), d_keep.detach(), d_edit.detach())
