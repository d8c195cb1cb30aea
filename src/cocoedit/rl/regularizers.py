"""CoCoEdit region regularizers ``L_ner+`` and ``L_er-`` (method.md §c).

Conventions: latents ``[B, C, h, w]`` (unpacked, see the backbone's ``unpack_latents``); the edit
mask is ``[B, 1, h, w]`` on the same latent grid with **1 = edit region** (build it with
:func:`cocoedit.core.masks.latent_grid_mask`, which binarises first: decision on §i.13). ``r`` and
``valid`` are ``[B]``. ``x0+`` / ``x0-`` are the positive and implicit-negative x0-predictions of
:func:`cocoedit.rl.nft_loss.nft_policy_loss`; with ``beta = 1``, ``x0+ = x0_theta`` and
``x0- = 2 sg(x0_old) - x0_theta``, so anything that moves ``x0-`` one way moves the trained
prediction ``x0_theta`` the other way.

* Keep-region term ``L_ner+ = relu(d(x0+, target+; W_keep) - tau_pos)``: the positive
  (high-reward) prediction must stay close to the target on the keep region.
* Edit-region term ``L_er-`` (``edit_term``), weighted by ``(1 - r) lambda_er``. The paper's aim is
  "encouraging editing effects for low-reward samples" (against under-editing):

  - ``"reference"``: ``relu(tau_neg - d(x0-, x_src; W_edit))``, the paper's formula and the
    reference code's. It pushes ``x0-`` *away* from the source on the edit region, which pulls
    ``x0_theta`` *towards* the source there: it works **towards under-editing**, against its
    stated purpose (method.md §c.4). It fires only while ``d < tau_neg``, and with the squared
    distance its gradient vanishes at an unedited output.
  - ``"push_positive"``: ``relu(tau_neg - d(x0+, x_src; W_edit))``: the policy's own prediction
    must differ from the source by at least ``tau_neg`` on the edit region. Moves ``x0_theta``
    away from the source while it is within ``tau_neg`` of it, then stops (bounded). This is what
    the paper's sentence asks for.
  - ``"pull_negative"``: ``relu(d(x0-, x_src; W_edit) - tau_neg)``: pull the implicit negative
    towards the source, which moves ``x0_theta`` away from it along the direction in which the
    old policy already departs from the source (it extrapolates the old policy's edit; with
    ``tau_neg > 0`` it is idle while ``x0-`` is within ``tau_neg`` of the source). Consistent
    with the implicit negative policy, but it amplifies whatever edit the old policy made, also a
    wrong one, and is unbounded until ``x0-`` reaches the source: use a small ``lambda_er``.
  - ``"off"``: no edit-region term.

* ``L_reg = sum_j valid_j (r_j lambda_ner L_ner+_j + (1 - r_j) lambda_er L_er-_j) / sum valid``.
  With region-aware credit (:func:`cocoedit.rl.advantages.region_credit`) each term takes its own
  region's ``r`` and validity: ``L_ner+`` (a keep-region term) the keep region's, ``L_er-`` (an
  edit-region term) the edit region's; the sum is divided by the number of samples with either
  region valid. With the paper's single ``r`` this is the formula above.

Distances (``edit_distance`` applies to the edit-region term; the keep term is always squared):

* ``"squared"`` (reference): ``d = sum W (a - b)^2 / max(C sum W, 1e-6)``, the weighted latent MSE.
  Its gradient is proportional to ``a - b`` and vanishes as the prediction approaches the source.
* ``"sqrt"``: ``sqrt(d_squared)``, the weighted RMS difference; ``"l1"``: ``sum W |a - b| /
  max(C sum W, 1e-6)``. Their gradients keep a fixed size however close the prediction is to the
  source (they are only undefined exactly at it, where the gradient is taken as 0). ``tau_neg`` is
  in the chosen distance's units: the reference's 0.03 squared corresponds to about 0.17 RMS.

Decisions on method.md §i and §c.3:

* §i.8: the positive target is selectable: ``"source"`` (the paper: pull the keep region towards
  the input image; our default) or ``"sample"`` (the reference code: the rollout sample x0).
* §i.12: like the reference, the regularizers are **not** multiplied by ``adv_clip_max / beta``,
  so the reference's lambdas carry over unchanged.
* Weight maps follow the reference: each region eroded by ``erode_radius`` latent pixels, and the
  band between them (the ring) added with ``ring_weight`` to both maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from cocoedit.core.masks import erode
from cocoedit.rl.advantages import Credit

if TYPE_CHECKING:
    from cocoedit.rl.config import RegularizerConfig

PositiveTarget = Literal["source", "sample"]
EditTerm = Literal["reference", "push_positive", "pull_negative", "off"]
EditDistance = Literal["squared", "sqrt", "l1"]
EDIT_TERMS: tuple[str, ...] = ("reference", "push_positive", "pull_negative", "off")
EDIT_DISTANCES: tuple[str, ...] = ("squared", "sqrt", "l1")


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


def weighted_latent_distance(
    a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor, kind: EditDistance = "squared"
) -> torch.Tensor:
    """Weighted distance per sample, shape ``[B]`` (``a``, ``b``: ``[B, C, h, w]``; ``weight``:
    ``[B, 1, h, w]``).

    ``squared``: ``sum W (a - b)^2 / max(C sum W, 1e-6)``; ``sqrt``: its square root (gradient 0
    where it is 0); ``l1``: ``sum W |a - b| / max(C sum W, 1e-6)``.
    """
    if kind not in EDIT_DISTANCES:
        raise ValueError(f"distance must be one of {', '.join(EDIT_DISTANCES)}, got {kind!r}")
    diff = a.float() - b.float()
    per_element = diff.abs() if kind == "l1" else diff.square()
    denom = (a.shape[1] * weight.sum(dim=(1, 2, 3))).clamp_min(1e-6)
    d = (per_element * weight).sum(dim=(1, 2, 3)) / denom
    if kind == "sqrt":
        # Where d is 0 the square root has no derivative; the clamp makes it 0 instead of NaN.
        d = d.clamp_min(1e-12).sqrt()
    return d


def edit_region_term(
    x0_positive: torch.Tensor,
    x0_negative: torch.Tensor,
    x_source: torch.Tensor,
    w_edit: torch.Tensor,
    *,
    form: EditTerm = "reference",
    distance: EditDistance = "squared",
    tau: float = 3e-2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(term, d)`` per sample ``[B]``: the edit-region term of the chosen form (module docstring)
    before its ``(1 - r) lambda_er`` weight, and the distance it hinges on (``d(x0+, x_src)`` for
    ``push_positive``, ``d(x0-, x_src)`` otherwise)."""
    if form not in EDIT_TERMS:
        raise ValueError(f"edit term must be one of {', '.join(EDIT_TERMS)}, got {form!r}")
    prediction = x0_positive if form == "push_positive" else x0_negative
    d = weighted_latent_distance(prediction, x_source.detach(), w_edit, distance)
    if form == "pull_negative":
        return torch.relu(d - tau), d
    if form == "off":
        return torch.zeros_like(d), d
    return torch.relu(tau - d), d


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
    *,
    x0_positive: torch.Tensor,
    x0_negative: torch.Tensor,
    x0_sample: torch.Tensor,
    x_source: torch.Tensor,
    edit_mask: torch.Tensor,
    credit: Credit,
    settings: RegularizerConfig,
) -> RegionLoss:
    """The r-weighted region regularizer (see the module docstring). ``credit`` gives each sample's
    ``r`` and validity per region: the keep term is weighted by the keep region's ``r``, the edit
    term by ``1 -`` the edit region's (with the paper's single ``r`` both are the same)."""
    g = settings
    if g.positive_target not in ("source", "sample"):
        raise ValueError(f"positive_target must be 'source' or 'sample', got {g.positive_target!r}")
    w_keep, w_edit = region_weight_maps(edit_mask, g.erode_radius, g.ring_weight)
    target = x_source if g.positive_target == "source" else x0_sample
    d_keep = weighted_latent_distance(x0_positive, target.detach(), w_keep)
    keep_term = torch.relu(d_keep - g.tau_pos)
    edit, d_edit = edit_region_term(
        x0_positive, x0_negative, x_source, w_edit, form=g.edit_term, distance=g.edit_distance, tau=g.tau_neg
    )

    def weight(r: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:  # NaN r of samples that do not count
        return torch.where(valid, r, torch.zeros_like(r)).to(keep_term.dtype), valid.to(keep_term.dtype)

    (r_keep, v_keep), (r_edit, v_edit) = (
        weight(credit.r_keep, credit.valid_keep),
        weight(credit.r_edit, credit.valid_edit),
    )
    per_sample = v_keep * r_keep * g.lambda_ner * keep_term + v_edit * (1 - r_edit) * g.lambda_er * edit
    loss = per_sample.sum() / credit.valid.to(keep_term.dtype).sum().clamp_min(1)
    return RegionLoss(loss, keep_term.detach(), edit.detach(), d_keep.detach(), d_edit.detach())
