"""From per-sample rewards to DiffusionNFT optimality probabilities ``r`` (method.md §b.2–§b.3).

Conventions: all tensors are 1-D over the N samples of one epoch (all ranks gathered).
``group_ids`` is int64 ``[N]``: samples with the same id were generated for the same
(source image, instruction) pair; build it with :func:`group_ids_from_keys`.

Decisions on method.md §i:

* §i.15: groups are keyed by **(source image id, instruction)**, not by instruction text alone
  (the reference merges two images that share an instruction, and keys Kontext groups by a
  lower-cased, tokenised string).
* §i.16: the normaliser is the epoch-wide reward std by default (``normaliser="global"``, as the
  reference); ``"group"`` uses each group's own std.
* §i.14: the valid mask keeps the reference's stricter rule (a group counts only if its std is
  above ``std_threshold`` **and** its mean below ``mean_threshold``); the ban rule (std below and
  mean above) is the reference's too.
* Samples the judge could not score (``scored=False``) are **excluded**: they do not enter any
  group statistic, get ``valid=False`` and ``r=NaN``, never an imputed reward.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

Normaliser = Literal["global", "group"]


def group_ids_from_keys(keys: Sequence[Hashable]) -> torch.Tensor:
    """int64 ``[N]`` group index per sample, numbered in order of first appearance."""
    index: dict[Hashable, int] = {}
    return torch.tensor([index.setdefault(k, len(index)) for k in keys], dtype=torch.int64)


@dataclass(frozen=True)
class GroupAdvantages:
    """Result of :func:`optimality_probability`.

    Per sample ``[N]``: ``advantage`` (clipped, NaN where unscored), ``r`` in [0, 1] (NaN where
    unscored), ``valid`` (bool: the sample enters the loss). Per group ``[G]``: ``group_mean``,
    ``group_std`` (population std over scored samples; NaN for a group with none), ``group_size``
    (scored samples) and ``ban`` (bool: saturated group, to be banned from future sampling).
    """

    advantage: torch.Tensor
    r: torch.Tensor
    valid: torch.Tensor
    group_mean: torch.Tensor
    group_std: torch.Tensor
    group_size: torch.Tensor
    ban: torch.Tensor


def optimality_probability(
    rewards: torch.Tensor,
    group_ids: torch.Tensor,
    scored: torch.Tensor | None = None,
    normaliser: Normaliser = "global",
    adv_clip_max: float = 5.0,
    std_eps: float = 1e-4,
    std_threshold: float = 0.02,
    mean_threshold: float = 0.9,
) -> GroupAdvantages:
    """Group-relative advantages and the NFT optimality probability.

    ``A_j = (R_j - mean_{g(j)}) / sigma``, with ``sigma`` the std of all scored rewards of the epoch
    (``"global"``) or of the sample's group (``"group"``), plus ``std_eps``; then
    ``A = clip(A, -adv_clip_max, adv_clip_max)`` and ``r = 1/2 + A / (2 adv_clip_max)``.
    Stds are population stds (ddof 0), as in the reference.
    """
    if rewards.ndim != 1 or group_ids.shape != rewards.shape:
        raise ValueError(f"rewards and group_ids must be [N], got {tuple(rewards.shape)} and {tuple(group_ids.shape)}")
    if normaliser not in ("global", "group"):
        raise ValueError(f"normaliser must be 'global' or 'group', got {normaliser!r}")
    if adv_clip_max <= 0:
        raise ValueError(f"adv_clip_max must be positive, got {adv_clip_max}")
    scored = torch.ones_like(rewards, dtype=torch.bool) if scored is None else scored.bool()
    if bool((scored & ~torch.isfinite(rewards)).any()):
        raise ValueError("a sample marked as scored has a non-finite reward; mark it unscored instead")
    rewards = rewards.double()
    n_groups = int(group_ids.max().item()) + 1 if group_ids.numel() else 0
    w = scored.double()
    safe = torch.where(scored, rewards, torch.zeros_like(rewards))
    size = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, group_ids, w)
    total = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, group_ids, safe)
    mean = total / size.clamp_min(1)
    sq_dev = torch.where(scored, (rewards - mean[group_ids]) ** 2, torch.zeros_like(rewards))
    var = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, group_ids, sq_dev) / size.clamp_min(1)
    nan = torch.full_like(mean, float("nan"))
    mean = torch.where(size > 0, mean, nan)
    std = torch.where(size > 0, var.sqrt(), nan)

    if normaliser == "global":
        scored_rewards = rewards[scored]
        global_std = scored_rewards.std(unbiased=False) if scored_rewards.numel() else torch.tensor(float("nan"))
        sigma = (global_std + std_eps).expand_as(rewards)
    else:
        sigma = std[group_ids] + std_eps
    advantage = ((rewards - mean[group_ids]) / sigma).clamp(-adv_clip_max, adv_clip_max)
    advantage = torch.where(scored, advantage, torch.full_like(advantage, float("nan")))
    r = 0.5 + 0.5 * advantage / adv_clip_max
    group_ok = (std > std_threshold) & (mean < mean_threshold)  # NaN compares False
    valid = scored & group_ok[group_ids]
    ban = (std < std_threshold) & (mean > mean_threshold)
    return GroupAdvantages(
        advantage=advantage.float(),
        r=r.float(),
        valid=valid,
        group_mean=mean.float(),
        group_std=std.float(),
        group_size=size.long(),
        ban=ban,
    )
