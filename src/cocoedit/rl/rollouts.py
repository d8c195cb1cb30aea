"""Rollouts for the trainer: training rows and their encoded conditions (cached), sampling an
epoch's groups, scoring them in reward threads, gathering the scores of every process, validation
and sample grids. Everything here runs under ``torch.no_grad``; the policy is passed in as a
prediction function, so this module does not know which adapter samples.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

from cocoedit.core.errors import ServiceUnavailableError
from cocoedit.core.masks import latent_grid_mask
from cocoedit.core.metrics import keep_region_metrics
from cocoedit.data.manifest import EditSample
from cocoedit.data.rows import TrainingRow, prepare_row
from cocoedit.models.backbone import EditBackbone
from cocoedit.models.condition import EditCondition
from cocoedit.models.samplers import sample as run_sampler
from cocoedit.rewards.base import RewardBatch, RewardFunction, RewardInputs, as_reward_batch, mix_rewards
from cocoedit.rl.config import CocoEditConfig
from cocoedit.rl.diagnostics import group_pair_distances, spread_metrics
from cocoedit.rl.distributed import ProcessGroup
from cocoedit.rl.epoch_plan import EpochPlan, sample_generator
from cocoedit.rl.exploration import INITIAL_NOISE

Predict = Callable[[torch.Tensor, float, EditCondition], torch.Tensor]
# Validation row i always starts from the noise of "sample" VALIDATION_INDEX + i of epoch 0, so
# validations at different steps compare the same inputs.
VALIDATION_INDEX = 10**9
# The stream of a group's shared initial noise (sampling.initial_noise: localized), per (epoch, row).
_GROUP_NOISE_STREAM = 0x6E01


@dataclass
class EpochSamples:
    """This process's rollouts of one epoch (index i = local sample i): dataset rows, packed clean
    latents ``[n, N, D]``, decoded images ``[n, 3, H, W]`` (CPU), the reward threads' futures."""

    rows: list[int]
    clean: torch.Tensor
    images: torch.Tensor
    futures: list[Future] = field(default_factory=list)
    seconds: float = 0.0


class Rollouts:
    """Rows, conditions, sampling, scoring and validation of one run (see the module doc)."""

    def __init__(
        self,
        config: CocoEditConfig,
        backbone: EditBackbone,
        samples: Sequence[EditSample],
        validation: Sequence[EditSample],
        rewards: dict[str, RewardFunction],
        dist: ProcessGroup,
    ):
        self.config, self.backbone, self.rewards, self.dist = config, backbone, rewards, dist
        self.pools = {"train": list(samples), "validation": list(validation)}
        self.height, self.width = config.model.height, config.model.width
        self.sigmas = backbone.sigma_schedule(config.sampling.steps, self.height, self.width)
        self._rows: OrderedDict[tuple[str, int], TrainingRow] = OrderedDict()
        self._conditions: OrderedDict[tuple[str, int], EditCondition] = OrderedDict()

    def _cached(self, cache: OrderedDict, key, make):
        if key not in cache:
            cache[key] = make()
            if len(cache) > self.config.train.condition_cache_size:
                cache.popitem(last=False)
        cache.move_to_end(key)
        return cache[key]

    def row(self, index: int, pool: str = "train") -> TrainingRow:
        """A dataset row at the working resolution (LRU-cached)."""
        return self._cached(
            self._rows, (pool, index), lambda: prepare_row(self.pools[pool][index], self.height, self.width)
        )

    def condition(self, index: int, pool: str = "train") -> EditCondition:
        """The encoded (instruction, source) of a row, computed once and cached (LRU)."""

        def encode() -> EditCondition:
            row = self.row(index, pool)
            with torch.no_grad():
                return self.backbone.encode_condition(
                    [row.sample.instruction],
                    row.source[None],
                    self.height,
                    self.width,
                    guidance=self.config.model.guidance,
                )

        return self._cached(self._conditions, (pool, index), encode)

    def score(self, inputs: RewardInputs) -> dict[str, RewardBatch]:
        return {name: as_reward_batch(fn(inputs), len(inputs), name) for name, fn in self.rewards.items()}

    def rollout(
        self, rows: Sequence[int], indices: Sequence[int], epoch: int, predict: Predict, pool: str = "train"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Packed clean latents and decoded images of samples ``indices`` (their own noise) of ``rows``.

        Training rollouts start from ``sampling.initial_noise`` (:mod:`cocoedit.rl.exploration`);
        validation always from each row's own fixed noise."""
        s = self.config.sampling
        cond = EditCondition.cat([self.condition(r, pool) for r in rows])
        gens = [sample_generator(self.config.train.seed, epoch, i) for i in indices]
        noise = self.backbone.initial_noise(len(rows), self.height, self.width, gens)
        if pool == "train" and s.initial_noise != "independent":
            seed = self.config.train.seed ^ _GROUP_NOISE_STREAM
            shared = self.backbone.initial_noise(
                len(rows), self.height, self.width, [sample_generator(seed, epoch, r) for r in rows]
            )
            noise = INITIAL_NOISE[s.initial_noise](noise, shared, self.packed_edit_mask(rows), scale=s.edit_noise_scale)
        with torch.no_grad():
            out = run_sampler(
                s.sampler,
                lambda x, sigma: predict(x, sigma, cond),
                noise,
                self.sigmas,
                noise_level=s.sde_noise_level,
                generator=gens,
            )
            images = self.backbone.decode(out.sample, self.height, self.width)
        return out.sample.detach(), images.float().cpu()

    def packed_edit_mask(self, rows: Sequence[int]) -> torch.Tensor:
        """The rows' edit masks on the latent grid, in the packed layout of the latents (1 = edit)."""
        grid = latent_grid_mask(
            torch.stack([self.row(r).edit_mask for r in rows]), self.backbone.latent_grid(self.height, self.width)
        )
        channels = self.backbone.latent_channels
        return self.backbone.pack(grid.expand(-1, channels, -1, -1)).to(self.backbone.device)

    def sample_epoch(self, plan: EpochPlan, predict: Predict, pool: ThreadPoolExecutor) -> EpochSamples:
        """Sample this process's share of the epoch; each batch goes to the reward threads at once."""
        start = time.perf_counter()
        rows, indices = plan.local_prompts().tolist(), list(plan.local_indices)
        b = self.config.sampling.batch_size
        clean, images, futures = [], [], []
        for i in range(0, len(rows), b):
            x0, decoded = self.rollout(rows[i : i + b], indices[i : i + b], plan.epoch, predict)
            clean.append(x0)
            images.append(decoded)
            inputs = RewardInputs.from_rows([self.row(r) for r in rows[i : i + b]], decoded)
            futures.append(pool.submit(self.score, inputs))
        return EpochSamples(rows, torch.cat(clean), torch.cat(images), futures, time.perf_counter() - start)

    def group_spread(self, samples: EpochSamples, plan: EpochPlan) -> dict[str, float]:
        """``signal/spread_edit`` and ``signal/spread_keep`` of the epoch
        (:func:`~cocoedit.rl.diagnostics.group_pair_distances`), from every process; pairs whose
        samples sit on two processes are left out."""
        masks = torch.stack([self.row(i).edit_mask for i in samples.rows])
        groups = plan.sample_group[plan.start : plan.stop]
        local = group_pair_distances(samples.images, masks, groups)
        merged: dict[tuple[int, int], tuple[float, float]] = {}
        for rank, part in enumerate(self.dist.gather_objects(local)):
            merged.update({(rank, g): v for g, v in part.items()})
        return spread_metrics(merged)

    def gather_scores(self, futures: Sequence[Future]) -> dict[str, RewardBatch]:
        """Every component's scores of the epoch from all processes, in global sample order. A reward
        service that cannot be used (:class:`~cocoedit.core.errors.ServiceUnavailableError`: the
        judge, or a custom reward's server) stops every process together: one may see it while the
        others wait in a collective."""
        error, parts = None, []
        try:
            parts = [f.result() for f in futures]
        except ServiceUnavailableError as e:
            error = e
        errors = [e for e in self.dist.gather_objects(None if error is None else str(error)) if e]
        if error is not None:
            raise error
        if errors:
            raise ServiceUnavailableError(errors[0])
        device, out = self.backbone.device, {}
        for name in self.config.reward.weights:
            scores = torch.cat([p[name].scores for p in parts])
            valid = torch.cat([p[name].valid for p in parts])
            reasons = tuple(r for p in parts for r in (p[name].reasons or (None,) * len(p[name].valid)))
            details = tuple(d for p in parts for d in (p[name].details or (None,) * len(p[name].valid)))
            out[name] = RewardBatch(
                self.dist.gather(scores.to(device)).cpu(),
                self.dist.gather(valid.to(device)).cpu(),
                tuple(r for rank in self.dist.gather_objects(reasons) for r in rank),
                tuple(d for rank in self.dist.gather_objects(details) for d in rank),
            )
        return out

    def validate(self, predict: Predict) -> dict[str, float]:
        """Edit the validation rows (seeded noise) and score every reward. Rows are shared out over
        processes; every process runs the same number of rollouts (sharded forward passes are
        collectives) and the figures are merged on every process."""
        if not self.pools["validation"]:
            return {}
        n = min(self.config.data.validation_samples, len(self.pools["validation"]))
        b = self.config.sampling.batch_size
        mine = list(range(self.dist.rank, n, self.dist.world))
        names = list(self.config.reward.weights)
        local: dict[str, list] = {"psnr": [], "ssim": [], **{k: [] for k in names}, **{f"{k}/valid": [] for k in names}}
        for k in range(math.ceil(math.ceil(n / self.dist.world) / b)):
            rows = mine[k * b : (k + 1) * b]
            _, images = self.rollout(rows or [0], [VALIDATION_INDEX + r for r in rows or [0]], 0, predict, "validation")
            if not rows:
                continue  # a rollout only to keep the processes' collectives in step
            inputs = RewardInputs.from_rows([self.row(r, "validation") for r in rows], images)
            for name, batch in self.score(inputs).items():
                local[name] += batch.scores.tolist()
                local[f"{name}/valid"] += batch.valid.tolist()
            keep = keep_region_metrics(images, inputs.sources, inputs.edit_masks)
            local["psnr"] += keep.psnr.tolist()
            local["ssim"] += keep.ssim.tolist()
        merged = {k: [v for part in self.dist.gather_objects(local) for v in part[k]] for k in local}
        batches = {
            k: RewardBatch(torch.tensor(merged[k]), torch.tensor(merged[f"{k}/valid"], dtype=torch.bool)) for k in names
        }
        out = {f"val/{k}": nanmean(v.scores) for k, v in batches.items()}
        out.update(
            {
                "val/combined": nanmean(mix_rewards(batches, self.config.reward.weights).scores),
                "val/keep_psnr": nanmean(torch.tensor(merged["psnr"])),
                "val/keep_ssim": nanmean(torch.tensor(merged["ssim"])),
            }
        )
        return out

    def sample_grid(self, samples: EpochSamples, count: int = 4) -> tuple[torch.Tensor, list[dict[str, str]]]:
        """Rows of ``source | output | edit region tinted`` as one ``[3, H', W']`` image, and each
        row's sample id and instruction (the training report's captions)."""
        tiles, captions = [], []
        for i in range(min(count, len(samples.rows))):
            row = self.row(samples.rows[i])
            tint = row.source * 0.45 + torch.tensor([1.0, 0.15, 0.15])[:, None, None] * 0.55
            tiles.append(
                torch.cat([row.source, samples.images[i], torch.where(row.edit_mask.bool(), tint, row.source)], dim=2)
            )
            captions.append({"sample_id": row.sample.id, "instruction": row.sample.instruction})
        return torch.cat(tiles, dim=1), captions


def nanmean(t: torch.Tensor) -> float:
    finite = t[torch.isfinite(t)]
    return finite.float().mean().item() if finite.numel() else math.nan


def nanstd(t: torch.Tensor) -> float:
    finite = t[torch.isfinite(t)]
    return finite.float().std(unbiased=False).item() if finite.numel() else math.nan
