"""From per-sample rewards to DiffusionNFT optimality probabilities ``r`` (method.md §b.2–§b.3),
and credit assignment: which ``r`` each region of a sample is trained with (:func:`assign_credit`).

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

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from cocoedit.core.masks import erode
from cocoedit.rewards.base import RewardBatch, mix_rewards

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
    *,
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


# -- credit assignment: rewards -> r per region -------------------------------------------------
@dataclass(frozen=True)
class Credit:
    """Per sample ``[N]``: the optimality probability and validity that the edit region and the
    keep region of each sample are trained with. The paper's single ``r`` gives both regions the
    same (:meth:`single`)."""

    r_edit: torch.Tensor
    valid_edit: torch.Tensor
    r_keep: torch.Tensor
    valid_keep: torch.Tensor

    @classmethod
    def single(cls, r: torch.Tensor, valid: torch.Tensor) -> Credit:
        return cls(r, valid, r, valid)

    @property
    def valid(self) -> torch.Tensor:
        """A sample enters the loss when either of its regions does."""
        return self.valid_edit | self.valid_keep

    @property
    def is_single(self) -> bool:
        return self.r_edit is self.r_keep and self.valid_edit is self.valid_keep

    def select(self, index: slice | Sequence[int] | torch.Tensor) -> Credit:
        if self.is_single:
            return Credit.single(self.r_edit[index], self.valid_edit[index])
        return Credit(self.r_edit[index], self.valid_edit[index], self.r_keep[index], self.valid_keep[index])

    def to(self, device: torch.device | str) -> Credit:
        if self.is_single:
            return Credit.single(self.r_edit.to(device), self.valid_edit.to(device))
        return Credit(*(t.to(device) for t in (self.r_edit, self.valid_edit, self.r_keep, self.valid_keep)))


@dataclass(frozen=True)
class CreditResult:
    """What a credit assignment made of an epoch's rewards: the :class:`Credit` of every sample,
    the statistics of the combined reward's weighted mean (logging, the ban list) and, for region credit, of each
    region's reward (``regions``: ``{"edit": ..., "keep": ...}``); ``group_ids [N]`` as given."""

    credit: Credit
    combined: GroupAdvantages
    regions: dict[str, GroupAdvantages]
    group_ids: torch.Tensor


def mean_of_components(
    scores: Mapping[str, torch.Tensor], scored: Mapping[str, torch.Tensor], weights: Mapping[str, float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(R, scored)``: the weighted mean ``sum_k w_k s_k / sum_k w_k`` over the named components
    with a weight above 0, in the components' own scale; a sample is scored when all of them are."""
    active = [k for k, w in weights.items() if w > 0]
    if not active:
        raise ValueError("no component with a weight above 0")
    total = sum(weights[k] for k in active)
    ok = torch.stack([scored[k].bool() for k in active]).all(dim=0)
    mixed = sum(weights[k] / total * torch.where(scored[k].bool(), scores[k].double(), 0.0) for k in active)
    return torch.where(ok, mixed, torch.full_like(mixed, float("nan"))).float(), ok


def _probabilities(rewards: torch.Tensor, group_ids: torch.Tensor, scored: torch.Tensor, a: Any) -> GroupAdvantages:
    return optimality_probability(
        rewards,
        group_ids,
        scored,
        normaliser=a.normaliser,
        adv_clip_max=a.adv_clip_max,
        std_eps=a.std_eps,
        std_threshold=a.std_threshold,
        mean_threshold=a.mean_threshold,
    )


def single_credit(
    combined: torch.Tensor, scored: torch.Tensor, group_ids: torch.Tensor, *, components, weights, advantage, credit
) -> CreditResult:
    """The paper: one ``r`` per sample from the combined reward (``combined``: its weighted mean,
    :func:`assign_credit`)."""
    adv = _probabilities(combined, group_ids, scored, advantage)
    return CreditResult(Credit.single(adv.r, adv.valid), adv, {}, group_ids)


def region_credit(
    combined: torch.Tensor, scored: torch.Tensor, group_ids: torch.Tensor, *, components, weights, advantage, credit
) -> CreditResult:
    """Region-aware credit (after Edit-GRPO and MT-EditFlow): the edit region's ``r`` from the
    weighted mean of ``credit.edit_rewards``, the keep region's from ``credit.keep_rewards``, each
    through :func:`optimality_probability` with the same groups and settings (so each region's
    group is informative, or not, on its own reward's spread)."""
    scores = {k: b[0] for k, b in components.items()}
    masks = {k: b[1] for k, b in components.items()}
    regions = {}
    for region, names in (("edit", credit.edit_rewards), ("keep", credit.keep_rewards)):
        region_weights = {k: weights[k] for k in names if weights[k] > 0}
        if region_weights:
            r, ok = mean_of_components(scores, masks, region_weights)
        else:  # no reward looks at this region: nothing is credited there
            r, ok = torch.full_like(combined, float("nan")), torch.zeros_like(scored)
        regions[region] = _probabilities(r, group_ids, ok, advantage)
    e, k = regions["edit"], regions["keep"]
    adv = _probabilities(combined, group_ids, scored, advantage)
    return CreditResult(Credit(e.r, e.valid, k.r, k.valid), adv, regions, group_ids)


#: ``credit.assignment`` -> the function. A new variant is one function of this signature and one
#: name here (and in :class:`cocoedit.rl.config.CreditConfig`).
CREDIT_ASSIGNMENTS = {"single": single_credit, "region": region_credit}


def assign_credit(
    components: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    weights: Mapping[str, float],
    group_ids: torch.Tensor,
    *,
    advantage: Any,
    credit: Any,
) -> CreditResult:
    """Rewards -> the :class:`Credit` of every sample of the epoch (pure).

    ``components``: name -> ``(scores [N], scored [N] bool)``, one entry per weight; ``weights``:
    name -> weight; ``advantage``: the ``advantage`` settings
    (:class:`cocoedit.rl.config.AdvantageConfig`); ``credit``: the ``credit`` settings
    (:class:`cocoedit.rl.config.CreditConfig`).

    The groups' statistics are those of the combined reward ``R = sum_k w_k s_k``
    (:func:`~cocoedit.rewards.base.mix_rewards`) divided by ``sum_k w_k``: the weighted mean of the
    components, in their own scale, so that ``std_threshold`` and ``mean_threshold`` mean the same
    whatever the weights sum to (as for each region's reward with region credit). With weights
    summing to 1 (every preset) this is ``R`` itself; otherwise the advantages differ from the
    reference's only through ``std_eps``.
    """
    mixed = mix_rewards({k: RewardBatch(s, ok) for k, (s, ok) in components.items()}, weights)
    total = sum(w for w in weights.values() if w > 0)
    combined = mixed.scores / total
    assign = CREDIT_ASSIGNMENTS[credit.assignment]
    return assign(
        combined, mixed.valid, group_ids, components=components, weights=weights, advantage=advantage, credit=credit
    )


def region_share(edit_mask: torch.Tensor, *, ring_radius: int, ring_weight: float) -> torch.Tensor:
    """``[B, 1, h, w]``: how much of each latent pixel's credit is the edit region's: 1 in the
    edit region eroded by ``ring_radius``, 0 in the keep region eroded likewise, ``ring_weight`` in
    the ring between them (``edit_mask``: 1 = edit, binarised at 0.5)."""
    edit = (edit_mask >= 0.5).float()
    edit_core, keep_core = erode(edit, ring_radius), erode(1.0 - edit, ring_radius)
    ring = (1.0 - edit_core - keep_core).clamp(0, 1)
    return edit_core + ring_weight * ring


def credit_maps(share: torch.Tensor, credit: Credit, *, equal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per element ``(r, weight)``, shaped like ``share`` ``[B, ...]``, from each sample's region credit.

    With ``a_e = share`` and ``a_k = 1 - share`` (``equal``: each rescaled per sample so that it
    averages 1/2, i.e. the edit and the keep region weigh the same whatever their areas):
    ``weight = a_e v_edit + a_k v_keep`` and ``r = (a_e v_edit r_edit + a_k v_keep r_keep) /
    weight`` (``v`` = validity): a region whose group carried no signal adds nothing, the ring
    mixes the valid regions' ``r``. Where the weight is 0, ``r`` is 1/2.
    """
    shape = (-1, *([1] * (share.ndim - 1)))
    dims = tuple(range(1, share.ndim))
    a_edit, a_keep = share, 1 - share
    if equal:
        a_edit = a_edit * 0.5 / a_edit.mean(dim=dims, keepdim=True).clamp_min(1e-12)
        a_keep = a_keep * 0.5 / a_keep.mean(dim=dims, keepdim=True).clamp_min(1e-12)
    ve, vk = credit.valid_edit.to(share.dtype).reshape(shape), credit.valid_keep.to(share.dtype).reshape(shape)
    re = torch.nan_to_num(credit.r_edit.to(share.dtype), nan=0.5).reshape(shape)
    rk = torch.nan_to_num(credit.r_keep.to(share.dtype), nan=0.5).reshape(shape)
    weight = a_edit * ve + a_keep * vk
    mixed = a_edit * ve * re + a_keep * vk * rk
    r = torch.where(weight > 0, mixed / weight.clamp_min(1e-12), torch.full_like(mixed, 0.5))
    return r, weight
