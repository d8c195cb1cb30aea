"""Which prompts an epoch samples, how samples are spread over processes, and their seeds.

One epoch draws ``prompts_per_epoch`` distinct, non-banned prompts (a prompt is one dataset row:
a source image with its instruction) and ``group_size`` samples of each. Every process computes
the same plan from ``(seed, epoch)`` and takes a contiguous shard of the flat sample list, so the
groups are identical on every rank and group statistics can be gathered globally.

Each sample has its own seed, ``sample_seed(seed, epoch, index)``, from which its initial noise,
its training timesteps and its training noise are drawn. Results therefore do not depend on how
many processes share the work (a 2-process run equals a 1-process run with the same global batch)
or on where a resumed run restarts.

Departures from the reference (method.md §e.4, §i.15): prompts are drawn without replacement
within an epoch (the reference may draw one prompt in two sampling batches and merge them into a
group of 24), and groups are keyed by dataset row, i.e. (source image, instruction).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from cocoedit.core.errors import CocoEditError


class EpochPlanError(CocoEditError):
    """The dataset and the batch settings do not make an epoch (too few prompts, uneven shards)."""


_SEED_MIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for global sample ``index`` of ``epoch`` (a SplitMix64-style mix)."""
    z = (seed * _SEED_MIX[0] + epoch * _SEED_MIX[1] + index + 1) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFF


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A CPU generator seeded for one sample (see :func:`sample_seed`)."""
    return torch.Generator().manual_seed(sample_seed(seed, epoch, index))


@dataclass(frozen=True)
class EpochPlan:
    """The samples of one epoch.

    ``prompts`` ``[P]``: dataset row of each group. ``sample_group`` ``[N]`` with ``N = P * k``:
    the group (0..P-1) of every global sample, groups contiguous. ``start, stop``: this process's
    shard ``[start, stop)`` of the global samples.
    """

    epoch: int
    prompts: torch.Tensor
    sample_group: torch.Tensor
    start: int
    stop: int

    @property
    def local_indices(self) -> range:
        return range(self.start, self.stop)

    def local_prompts(self) -> torch.Tensor:
        """Dataset row of each of this process's samples, ``[stop - start]``."""
        return self.prompts[self.sample_group[self.start : self.stop]]


def plan_epoch(
    dataset_size: int,
    prompts_per_epoch: int,
    group_size: int,
    epoch: int,
    seed: int,
    banned: Iterable[int] = (),
    world_size: int = 1,
    rank: int = 0,
) -> EpochPlan:
    """Draw the epoch's prompts (seeded by ``(seed, epoch)``, banned rows excluded) and shard."""
    if group_size < 2:
        raise ValueError(f"group_size must be at least 2 for group advantages, got {group_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world size {world_size}")
    banned = set(banned)
    allowed = torch.tensor([i for i in range(dataset_size) if i not in banned], dtype=torch.int64)
    if allowed.numel() < prompts_per_epoch:
        raise EpochPlanError(
            f"an epoch needs {prompts_per_epoch} distinct prompts but only {allowed.numel()} of "
            f"{dataset_size} are available ({len(banned)} banned as saturated)"
        )
    n = prompts_per_epoch * group_size
    if n % world_size:
        raise EpochPlanError(
            f"prompts_per_epoch x group_size = {n} samples cannot be split evenly over {world_size} processes"
        )
    gen = torch.Generator().manual_seed(sample_seed(seed, epoch, -1))
    prompts = allowed[torch.randperm(allowed.numel(), generator=gen)[:prompts_per_epoch]]
    sample_group = torch.arange(prompts_per_epoch).repeat_interleave(group_size)
    per_rank = n // world_size
    return EpochPlan(epoch, prompts, sample_group, rank * per_rank, (rank + 1) * per_rank)
