"""Is there a learning signal? Per-step diagnostics of the groups, and the stop for a run that has
none.

Group-relative RL learns only from differences inside a group: a group whose samples score alike
(reward std at or below ``advantage.std_threshold``) adds nothing to the loss. Logged every step
(``metrics.jsonl``, TensorBoard, drawn by ``cocoedit report``):

* ``signal/uninformative_groups``: share of the epoch's groups whose reward std is at or below the
  threshold (the std of the components' weighted mean, the scale the credit assignment compares;
  with region credit also ``signal/edit/...`` and ``signal/keep/...`` for each region's reward);
  ``signal/unused_groups``: share of groups that enter the loss in no region (the threshold, a
  saturated mean, or no scored sample);
* ``signal/group_std_p10``, ``_p50``, ``_p90``, ``_max``: the distribution of within-group reward
  stds;
* ``signal/spread_edit``, ``signal/spread_keep``: the mean pairwise RMS distance (pixels in
  [0, 1]) between a group's decoded samples on the edit region and on the keep region: how much
  the samples of a group differ, where (:func:`group_pair_distances`).

:class:`SignalMonitor` warns once per streak, in one log line, when most groups have carried no
signal for ``advantage.no_signal_steps`` steps in a row, and stops the run with
:class:`NoSignalError` when none has.
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import Any

import torch

from cocoedit.core.errors import CocoEditError

logger = logging.getLogger("cocoedit.train")

#: What raises the diversity inside a group, named in the warning and the error.
DIVERSITY_SETTINGS = (
    "sampling.initial_noise: localized with sampling.edit_noise_scale up to 1, sampling.sampler: sde "
    "(sampling.sde_noise_level), a larger sampling.group_size, or advantage.std_threshold lowered to the "
    "reward's scale"
)


class NoSignalError(CocoEditError):
    """No group of the last ``advantage.no_signal_steps`` steps carried a learning signal."""


def _quantiles(values: torch.Tensor) -> dict[str, float]:
    finite = values[torch.isfinite(values)].double()
    if not finite.numel():
        return {k: math.nan for k in ("p10", "p50", "p90", "max")}
    q = torch.quantile(finite, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64))
    return {"p10": float(q[0]), "p50": float(q[1]), "p90": float(q[2]), "max": float(finite.max())}


def reward_spread(group_std: torch.Tensor, threshold: float, prefix: str = "signal/") -> dict[str, float]:
    """Share of groups with std at or below ``threshold`` (a group with no scored sample counts as
    uninformative) and the std distribution, as metrics under ``prefix``."""
    informative = group_std > threshold  # NaN compares False
    out = {f"{prefix}uninformative_groups": 1.0 - informative.float().mean().item() if group_std.numel() else math.nan}
    out.update({f"{prefix}group_std_{k}": v for k, v in _quantiles(group_std).items()})
    return out


def signal_metrics(result: Any, threshold: float) -> dict[str, float]:
    """The reward-side diagnostics of a :class:`~cocoedit.rl.advantages.CreditResult`."""
    out = reward_spread(result.combined.group_std, threshold)
    for region, adv in result.regions.items():
        out.update(reward_spread(adv.group_std, threshold, f"signal/{region}/"))
    groups = int(result.combined.group_std.numel())
    used = torch.zeros(groups, dtype=torch.bool)
    used[result.group_ids[result.credit.valid]] = True
    out["signal/unused_groups"] = 1.0 - used.float().mean().item() if groups else math.nan
    return out


def group_pair_distances(
    images: torch.Tensor, edit_masks: torch.Tensor, group_ids: torch.Tensor
) -> dict[int, tuple[float, float]]:
    """Per group (id -> ``(edit, keep)``): the mean over pairs of the group's samples of their RMS
    difference on the edit region and on the keep region.

    ``images [n, 3, H, W]`` in [0, 1], ``edit_masks [n, 1, H, W]`` (1 = edit; a group's samples
    share their mask), ``group_ids [n]``. A group with one sample here has no pair and is absent;
    a region with no pixel gives NaN.
    """
    out: dict[int, tuple[float, float]] = {}
    for g in torch.unique(group_ids).tolist():
        idx = (group_ids == g).nonzero().flatten().tolist()
        if len(idx) < 2:
            continue
        edit = edit_masks[idx[0]].float()
        sums = {"edit": 0.0, "keep": 0.0}
        pairs = list(itertools.combinations(idx, 2))
        for a, b in pairs:
            sq = (images[a].float() - images[b].float()).square()
            for name, m in (("edit", edit), ("keep", 1 - edit)):
                area = 3 * m.sum()
                sums[name] += float(((sq * m).sum() / area).sqrt()) if area > 0 else math.nan
        out[g] = (sums["edit"] / len(pairs), sums["keep"] / len(pairs))
    return out


def spread_metrics(per_group: dict[int, tuple[float, float]]) -> dict[str, float]:
    """``signal/spread_edit`` and ``signal/spread_keep``: means over groups (NaN when none)."""
    out = {}
    for i, name in enumerate(("edit", "keep")):
        values = [v[i] for v in per_group.values() if math.isfinite(v[i])]
        out[f"signal/spread_{name}"] = sum(values) / len(values) if values else math.nan
    return out


class SignalMonitor:
    """Counts the steps in a row on which most groups, and then no group, carried a signal (a
    group carries one when it enters the loss: ``train/valid_fraction`` > 0 means some did)."""

    def __init__(self, config: Any):
        self.patience = config.advantage.no_signal_steps
        self.threshold = config.advantage.std_threshold
        self.mean_threshold = config.advantage.mean_threshold
        self.mostly_quiet = 0
        self.silent = 0
        self.warned = False

    def observe(self, step: int, stats: dict[str, float]) -> str | None:
        """Record step ``step``'s metrics; return the warning line when one is due (also logged).
        Raises :class:`NoSignalError` on the ``no_signal_steps``-th step in a row without signal."""
        unused = stats.get("signal/unused_groups", stats.get("signal/uninformative_groups", 0.0))
        silent = stats.get("train/valid_fraction", 1.0) == 0.0
        self.silent = self.silent + 1 if silent else 0
        self.mostly_quiet = self.mostly_quiet + 1 if unused > 0.5 else 0
        if self.mostly_quiet == 0:
            self.warned = False
        if self.patience == 0:
            return None
        measured = (
            f"within-group reward std median {stats.get('signal/group_std_p50', math.nan):.3g}, "
            f"largest {stats.get('signal/group_std_max', math.nan):.3g}, against advantage.std_threshold "
            f"{self.threshold:g}"
        )
        if self.silent >= self.patience:
            raise NoSignalError(
                f"step {step}: no group has carried a learning signal for {self.silent} steps "
                f"(advantage.no_signal_steps {self.patience}): {measured} (groups with a mean reward at or "
                f"above advantage.mean_threshold {self.mean_threshold:g} are excluded too); raise the "
                f"diversity inside a group: {DIVERSITY_SETTINGS}"
            )
        if self.mostly_quiet >= self.patience and not self.warned:
            self.warned = True
            message = (
                f"step {step}: most groups ({unused:.0%}) have carried no learning signal for {self.mostly_quiet} "
                f"steps: {measured} (groups with a mean reward at or above advantage.mean_threshold "
                f"{self.mean_threshold:g} are excluded too: saturated, raise the threshold or use harder rows); "
                f"to raise the diversity inside a group: {DIVERSITY_SETTINGS}"
            )
            logger.warning(message)
            return message
        return None
