"""The CoCoEdit training loop (method.md §a). Reads top to bottom: one epoch =

1. plan: ``prompts_per_epoch`` groups of ``group_size`` samples, sharded over processes;
2. sample with the **old** adapter, decode, and hand the images to the reward threads (the judge
   runs while the next batch is sampled);
3. gather rewards from every process, mix them, and turn them into optimality probabilities ``r``
   with a valid mask (unscored and saturated samples are excluded); ban saturated groups;
4. train: for every micro-batch and a random subset of the rollout timesteps, noise the clean
   sample, predict with the current, old and reference policies, and back-propagate
   ``L_policy + L_reg + L_KL`` (accumulated over the whole epoch);
5. all-reduce gradients over processes, clip, one AdamW step, soft-update the old adapter;
6. log, write sample grids, validate and checkpoint on schedule.

All maths lives in pure functions (:mod:`cocoedit.rl.advantages`, :mod:`~cocoedit.rl.nft_loss`,
:mod:`~cocoedit.rl.regularizers`, :mod:`cocoedit.rewards.pixel`); this module owns I/O, devices,
logging and checkpoints, and never branches on which backbone it trains.

Data parallelism (``train.parallel``): every process runs the same plan on its shard. ``ddp``:
each holds the whole transformer and, after the epoch's backward passes, the LoRA gradients are
averaged with ``all_reduce`` (what DDP does, without bucketing: adapters are small). ``fsdp2``:
the transformer is sharded block by block with ``torch.distributed.fsdp.fully_shard``, which
gathers weights for each forward and reduces gradients itself. Either way a run on P processes
equals a 1-process run with the same global batch (with the deterministic samplers; ``sampler:
sde`` draws its step noise per sampling batch).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
import yaml

import cocoedit
from cocoedit.data.manifest import EditSample
from cocoedit.data.masks import latent_grid_mask
from cocoedit.models.backbone import EditBackbone, EditCondition
from cocoedit.models.lora import (
    adapter_parameters,
    adapters_disabled,
    add_lora,
    copy_adapter,
    full_lora_state_dict,
    save_lora,
    use_adapter,
)
from cocoedit.models.samplers import sample as run_sampler
from cocoedit.rewards.batch import RewardBatch, mix_rewards
from cocoedit.rewards.pixel import pixel_consistency_reward
from cocoedit.rl import checkpoint as ckpt
from cocoedit.rl.advantages import optimality_probability
from cocoedit.rl.config import RESUMABLE_CHANGES, CocoEditConfig
from cocoedit.rl.epoch_plan import EpochPlan, plan_epoch, sample_generator
from cocoedit.rl.logging import RunLogger
from cocoedit.rl.nft_loss import kl_to_reference, nft_policy_loss
from cocoedit.rl.old_policy import old_policy_decay, soft_update_
from cocoedit.rl.regularizers import region_regularizers
from cocoedit.data.rows import TrainingRow, prepare_row

CURRENT, OLD = "default", "old"
# Separate random streams per sample: rollout noise and training noise/timesteps.
_TRAIN_STREAM = 0x5EED
# Validation row i always starts from the noise of "sample" _VALIDATION_INDEX + i of epoch 0, so
# validations at different steps compare the same inputs.
_VALIDATION_INDEX = 10**9


@dataclass(frozen=True)
class RewardInputs:
    """What every reward sees: ``sources``/``edited`` ``[B, 3, H, W]`` in [0, 1], ``edit_masks``
    ``[B, 1, H, W]`` (1 = edit), the instructions, and ``targets`` ``[B, 3, H, W]`` when every row
    of the batch has a target image (else None)."""

    sources: torch.Tensor
    edited: torch.Tensor
    edit_masks: torch.Tensor
    instructions: list[str]
    targets: torch.Tensor | None = None

    @staticmethod
    def from_rows(rows: Sequence[TrainingRow], edited: torch.Tensor) -> RewardInputs:
        targets = [r.target for r in rows]
        return RewardInputs(
            sources=torch.stack([r.source for r in rows]),
            edited=edited,
            edit_masks=torch.stack([r.edit_mask for r in rows]),
            instructions=[r.sample.instruction for r in rows],
            targets=torch.stack(targets) if all(t is not None for t in targets) else None,
        )


class RewardFunction(Protocol):
    """A reward component: scores ``[B]`` in [0, 1] plus a validity flag per sample."""

    def __call__(self, inputs: RewardInputs) -> RewardBatch: ...


class JudgeReward:
    """The MLLM-judge reward (:class:`cocoedit.rewards.mllm_reward.MLLMReward`) as a :class:`RewardFunction`."""

    def __init__(self, reward: Any):
        self.reward = reward

    def __call__(self, inputs: RewardInputs) -> RewardBatch:
        return self.reward(inputs.sources, inputs.edited, inputs.instructions)

    def close(self) -> None:
        self.reward.close()


class PixelReward:
    """The keep-region pixel-consistency reward as a :class:`RewardFunction`."""

    def __init__(self, psnr_max_db: float, psnr_weight: float, ssim_weight: float, scorer: str = "standard"):
        self.kwargs = dict(psnr_max_db=psnr_max_db, psnr_weight=psnr_weight, ssim_weight=ssim_weight, scorer=scorer)

    def __call__(self, inputs: RewardInputs) -> RewardBatch:
        return pixel_consistency_reward(inputs.edited, inputs.sources, inputs.edit_masks, **self.kwargs)


@dataclass
class EpochSamples:
    """This process's rollouts of one epoch (index i = local sample i)."""

    rows: list[int]
    clean: torch.Tensor            # packed x0 [n, N, D]
    images: torch.Tensor           # decoded [n, 3, H, W] (CPU)
    futures: list[Future] = field(default_factory=list)
    seconds: float = 0.0


class _Dist:
    """Process-group helpers that are no-ops in a single process."""

    def __init__(self) -> None:
        self.enabled = dist.is_available() and dist.is_initialized()
        self.world = dist.get_world_size() if self.enabled else 1
        self.rank = dist.get_rank() if self.enabled else 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    def average_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        if not self.enabled:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(self.world)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(cocoedit.__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


class CocoEditTrainer:
    """Owns one training run in ``run_dir``. Build, then :meth:`train`."""

    def __init__(
        self,
        config: CocoEditConfig,
        run_dir: str | Path,
        backbone: EditBackbone,
        train_samples: Sequence[EditSample],
        reward_functions: Mapping[str, RewardFunction],
        validation_samples: Sequence[EditSample] = (),
        progress: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.config = config
        self.run_dir = Path(run_dir)
        self.backbone = backbone
        self.samples = list(train_samples)
        self.validation = list(validation_samples)
        self.dist = _Dist()
        self.progress = progress
        missing = sorted(set(config.reward.weights) - set(reward_functions))
        if missing:
            raise ValueError(f"reward.weights names {missing} but no such reward function was given")
        self.rewards = dict(reward_functions)
        self.height, self.width = config.model.height, config.model.width
        backbone.check_resolution(self.height, self.width)
        self.latent_hw = backbone.latent_grid(self.height, self.width)
        sigmas = backbone.sigma_schedule(config.sampling.steps, self.height, self.width)
        self.sigmas = sigmas
        self.train_sigmas = sigmas[:-1]  # the rollout's timesteps (method.md §b.4)
        self.num_train_timesteps = max(1, int(config.sampling.steps * config.nft.timestep_fraction))

        m = config.model
        self.current = add_lora(backbone, CURRENT, m.lora_rank, m.lora_alpha, m.lora_targets)
        add_lora(backbone, OLD, m.lora_rank, m.lora_alpha, m.lora_targets)
        copy_adapter(backbone, CURRENT, OLD)
        self.sharded = config.train.parallel == "fsdp2" and self.dist.enabled
        if self.sharded:
            _shard_transformer(backbone.transformer, self.dist.world)
            backbone.refresh_placement()
            self.current = adapter_parameters(backbone, CURRENT)  # fully_shard replaced the parameters
        self.old = adapter_parameters(backbone, OLD)
        # Invariant outside use_adapter blocks: only the current adapter requires grad. It must
        # hold when backward runs, because autograd does not accumulate into a leaf that stopped
        # requiring grad (and peft's adapter switching flips these flags).
        for p in self.old:
            p.requires_grad_(False)
        for p in self.current:
            p.requires_grad_(True)
        if backbone.device.type == "cuda" and not config.train.cudnn_attention:
            # Process-wide: PyTorch's cuDNN attention backward hit illegal memory accesses on
            # torch 2.11 + CUDA 13 (H100) in our benchmarks; flash / memory-efficient kernels are used.
            torch.backends.cuda.enable_cudnn_sdp(False)
        if m.gradient_checkpointing and hasattr(backbone.transformer, "enable_gradient_checkpointing"):
            backbone.transformer.enable_gradient_checkpointing()
        o = config.optim
        self.optimizer = torch.optim.AdamW(self.current, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay, eps=o.eps)
        self.step = 0
        self.banned: set[int] = set()
        self._rows: OrderedDict[tuple[str, int], TrainingRow] = OrderedDict()
        self._conditions: OrderedDict[tuple[str, int], EditCondition] = OrderedDict()
        self.logger: RunLogger | None = None

    @classmethod
    def from_config(
        cls,
        config: CocoEditConfig,
        run_dir: str | Path,
        extra_rewards: Mapping[str, RewardFunction] | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> CocoEditTrainer:
        """Load the backbone, the manifests and the configured rewards. ``extra_rewards`` supplies
        programmatic reward components by the names used in ``reward.weights``."""
        from cocoedit.data.manifest import detect_layout, read_manifest
        from cocoedit.models.backbone import load_backbone

        m = config.model
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[m.dtype]
        device = config.train.device or _default_device()
        backbone = load_backbone(m.path, m.backbone, dtype=dtype, device=device, **m.backbone_options)
        backbone.pipeline.set_progress_bar_config(disable=True)

        def read(path: str) -> list[EditSample]:
            return read_manifest(path, layout=detect_layout(path))

        rewards: dict[str, RewardFunction] = dict(extra_rewards or {})
        if "pixel" in config.reward.weights:
            p = config.reward.pixel
            rewards["pixel"] = PixelReward(p.psnr_max_db, p.psnr_weight, p.ssim_weight, p.scorer)
        if "judge" in config.reward.weights:
            from cocoedit.rewards.mllm_reward import MLLMReward

            rewards["judge"] = JudgeReward(MLLMReward.from_config(config.judge))
        validation = read(config.data.validation_manifest) if config.data.validation_manifest else []
        return cls(config, run_dir, backbone, read(config.data.manifest), rewards, validation, progress)

    # -- data -----------------------------------------------------------------------------------
    def _row(self, index: int, pool: str = "train") -> TrainingRow:
        key = (pool, index)
        if key not in self._rows:
            sample = (self.samples if pool == "train" else self.validation)[index]
            self._rows[key] = prepare_row(sample, self.height, self.width)
            if len(self._rows) > self.config.train.condition_cache_size:
                self._rows.popitem(last=False)
        self._rows.move_to_end(key)
        return self._rows[key]

    def _condition(self, index: int, pool: str = "train") -> EditCondition:
        """The encoded (instruction, source) of a row, computed once and cached (LRU)."""
        key = (pool, index)
        if key not in self._conditions:
            row = self._row(index, pool)
            with torch.no_grad():
                cond = self.backbone.encode_condition(
                    [row.sample.instruction], row.source[None], self.height, self.width,
                    guidance=self.config.model.guidance)
            self._conditions[key] = cond
            if len(self._conditions) > self.config.train.condition_cache_size:
                self._conditions.popitem(last=False)
        self._conditions.move_to_end(key)
        return self._conditions[key]

    def _batch_condition(self, rows: Sequence[int], pool: str = "train") -> EditCondition:
        return EditCondition.cat([self._condition(r, pool) for r in rows])

    # -- rewards --------------------------------------------------------------------------------
    def _score(self, inputs: RewardInputs) -> dict[str, RewardBatch]:
        return {name: fn(inputs) for name, fn in self.rewards.items()}

    def _autocast(self):
        device = self.backbone.device
        if device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    # -- phase 1-2: sampling ------------------------------------------------------------------
    def _rollout(self, rows: Sequence[int], indices: Sequence[int], epoch: int, adapter: str | None,
                 pool: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """Packed clean latents and decoded images for samples ``indices`` of ``rows``."""
        s = self.config.sampling
        cond = self._batch_condition(rows, pool)
        gens = [sample_generator(self.config.train.seed, epoch, i) for i in indices]
        noise = self.backbone.initial_noise(len(rows), self.height, self.width, gens)

        def velocity(x: torch.Tensor, sigma: float) -> torch.Tensor:
            return self.backbone.predict_velocity(x, sigma, cond)

        policy = use_adapter(self.backbone, adapter) if adapter else adapters_disabled(self.backbone)
        with torch.no_grad(), policy, self._autocast():
            out = run_sampler(s.sampler, velocity, noise, self.sigmas, noise_level=s.sde_noise_level,
                              generator=gens[0])
            images = self.backbone.decode(out.sample, self.height, self.width)
        return out.sample.detach(), images.float().cpu()

    def _sample_epoch(self, plan: EpochPlan, pool: ThreadPoolExecutor) -> EpochSamples:
        start = time.perf_counter()
        rows = plan.local_prompts().tolist()
        indices = list(plan.local_indices)
        b = self.config.sampling.batch_size
        clean, images, futures = [], [], []
        for i in range(0, len(rows), b):
            x0, decoded = self._rollout(rows[i:i + b], indices[i:i + b], plan.epoch, OLD)
            clean.append(x0)
            images.append(decoded)
            inputs = RewardInputs.from_rows([self._row(r) for r in rows[i:i + b]], decoded)
            futures.append(pool.submit(self._score, inputs))
        return EpochSamples(rows, torch.cat(clean), torch.cat(images), futures, time.perf_counter() - start)

    # -- phase 3: rewards -> r ---------------------------------------------------------------
    def _collect_rewards(self, samples: EpochSamples, plan: EpochPlan) -> tuple[dict[str, torch.Tensor], dict]:
        """This process's ``r`` and ``valid`` from the globally gathered rewards, and the statistics."""
        start = time.perf_counter()
        parts = [f.result() for f in samples.futures]
        names = list(self.config.reward.weights)
        local = {n: RewardBatch(torch.cat([p[n].scores for p in parts]).float(),
                                torch.cat([p[n].valid for p in parts])) for n in names}
        waited = time.perf_counter() - start
        # Gather every component over processes: group statistics are global (method.md §b.2).
        gathered = {n: RewardBatch(self.dist.gather(b.scores.to(self.backbone.device)).cpu(),
                                   self.dist.gather(b.valid.to(self.backbone.device)).cpu()) for n, b in local.items()}
        mixed = mix_rewards(gathered, self.config.reward.weights)
        a = self.config.advantage
        adv = optimality_probability(mixed.scores, plan.sample_group, mixed.valid, a.normaliser, a.adv_clip_max,
                                     a.std_eps, a.std_threshold, a.mean_threshold)
        if a.ban_saturated:
            self.banned.update(plan.prompts[adv.ban].tolist())
        stats = {f"reward/{n}": _nanmean(b.scores) for n, b in gathered.items()}
        stats.update({
            "reward/combined": _nanmean(mixed.scores),
            "reward/scored_fraction": mixed.valid.float().mean().item(),
            "r/mean": _nanmean(adv.r), "r/std": _nanstd(adv.r),
            "train/valid_fraction": adv.valid.float().mean().item(),
            "train/banned": float(len(self.banned)),
            "time/waiting_for_rewards": waited,
        })
        return {"r": adv.r[plan.start:plan.stop], "valid": adv.valid[plan.start:plan.stop]}, stats

    # -- phase 4-5: training ------------------------------------------------------------------
    def _train_epoch(self, plan: EpochPlan, samples: EpochSamples, r: torch.Tensor, valid: torch.Tensor) -> dict[str, float]:
        start = time.perf_counter()
        c = self.config
        device = self.backbone.device
        b = c.optim.train_batch_size
        n = len(samples.rows)
        micro_batches = math.ceil(n / b)
        passes = micro_batches * self.num_train_timesteps
        totals: dict[str, float] = {"loss/policy": 0.0, "loss/kl": 0.0, "loss/keep_region": 0.0, "loss/edit_region": 0.0}
        self.optimizer.zero_grad(set_to_none=True)
        for m0 in range(0, n, b):
            idx = list(range(m0, min(m0 + b, n)))
            rows = [samples.rows[i] for i in idx]
            global_idx = [plan.start + i for i in idx]
            cond = self._batch_condition(rows)
            x0 = samples.clean[idx].to(device)
            r_mb, valid_mb = r[idx].to(device), valid[idx].to(device)
            edit_latent = latent_grid_mask(torch.stack([self._row(i).edit_mask for i in rows]), self.latent_hw).to(device)
            x_src = self.backbone.unpack(cond.source_latents, self.height, self.width)
            gens = [sample_generator(c.train.seed ^ _TRAIN_STREAM, plan.epoch, g) for g in global_idx]
            perms = torch.stack([torch.randperm(len(self.train_sigmas), generator=g) for g in gens])
            for j in range(self.num_train_timesteps):
                t = self.train_sigmas[perms[:, j]].to(device=device, dtype=x0.dtype)
                eps = torch.stack([torch.randn(x0.shape[1:], generator=g) for g in gens]).to(device=device, dtype=x0.dtype)
                x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
                with torch.no_grad(), use_adapter(self.backbone, OLD), self._autocast():
                    v_old = self.backbone.predict_velocity(x_t, t, cond)
                v_ref = None
                if c.nft.kl_weight > 0:
                    with torch.no_grad(), adapters_disabled(self.backbone), self._autocast():
                        v_ref = self.backbone.predict_velocity(x_t, t, cond)
                with use_adapter(self.backbone, CURRENT), self._autocast():
                    v_theta = self.backbone.predict_velocity(x_t, t, cond)
                policy = nft_policy_loss(r_mb, v_theta.float(), v_old.float(), x_t.float(), x0.float(), t.float(),
                                         valid_mb, c.nft.beta, c.advantage.adv_clip_max)
                loss = policy.loss
                if v_ref is not None:
                    kl = kl_to_reference(v_theta, v_ref, valid_mb, c.nft.kl_weight)
                    loss = loss + kl
                    totals["loss/kl"] += kl.item() / passes
                if c.regularizer.enabled:
                    g = c.regularizer
                    unpack = lambda z: self.backbone.unpack(z, self.height, self.width)  # noqa: E731
                    reg = region_regularizers(
                        unpack(policy.x0_positive), unpack(policy.x0_negative), unpack(x0.float()), x_src.float(),
                        edit_latent, r_mb, valid_mb, g.lambda_ner, g.lambda_er, g.tau_pos, g.tau_neg,
                        g.erode_radius, g.ring_weight, g.positive_target, g.edit_term, g.edit_distance)
                    loss = loss + reg.loss
                    totals["loss/keep_region"] += float((reg.keep_term * valid_mb).sum() / valid_mb.sum().clamp_min(1)) / passes
                    totals["loss/edit_region"] += float((reg.edit_term * valid_mb).sum() / valid_mb.sum().clamp_min(1)) / passes
                totals["loss/policy"] += policy.loss.item() / passes
                (loss / passes).backward()
        if not self.sharded:  # FSDP2 has already reduced the gradients in backward
            self.dist.average_gradients(self.current)
        any_valid = bool(self.dist.gather(valid.any()[None].to(device)).any())
        grad_norm = _full(torch.nn.utils.clip_grad_norm_(self.current, c.optim.grad_clip)).item()
        stepped = any_valid or not c.optim.skip_step_without_valid
        if stepped:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        decay = old_policy_decay(self.step, c.optim.old_policy_decay)
        soft_update_(self.old, self.current, decay)
        totals.update({"train/grad_norm": grad_norm, "train/old_decay": decay, "train/stepped": float(stepped),
                       "train/lr": self.optimizer.param_groups[0]["lr"],
                       "time/training": time.perf_counter() - start})
        return totals

    # -- validation, grids, checkpoints --------------------------------------------------------
    def validate(self) -> dict[str, float]:
        """Edit the validation rows with the current adapter (seeded) and score every reward."""
        if not self.validation:
            return {}
        n = min(self.config.data.validation_samples, len(self.validation))
        b = self.config.sampling.batch_size
        parts, masks, sources, edited = [], [], [], []
        for i in range(0, n, b):
            rows = list(range(i, min(i + b, n)))
            _, images = self._rollout(rows, [_VALIDATION_INDEX + r for r in rows], 0, CURRENT, pool="validation")
            inputs = RewardInputs.from_rows([self._row(r, "validation") for r in rows], images)
            parts.append(self._score(inputs))
            sources.append(inputs.sources)
            edited.append(images)
            masks.append(inputs.edit_masks)
        from cocoedit.eval.metrics import keep_region_metrics

        keep = keep_region_metrics(torch.cat(edited), torch.cat(sources), torch.cat(masks))
        names = list(self.config.reward.weights)
        merged = {k: RewardBatch(torch.cat([p[k].scores for p in parts]), torch.cat([p[k].valid for p in parts])) for k in names}
        mixed = mix_rewards(merged, self.config.reward.weights)
        out = {f"val/{k}": _nanmean(v.scores) for k, v in merged.items()}
        out.update({"val/combined": _nanmean(mixed.scores), "val/keep_psnr": _nanmean(keep.psnr),
                    "val/keep_ssim": _nanmean(keep.ssim)})
        return out

    def _sample_grid(self, samples: EpochSamples, count: int = 4) -> torch.Tensor:
        """Rows of ``source | output | edit region tinted``, as one ``[3, H', W']`` image."""
        tiles = []
        for i in range(min(count, len(samples.rows))):
            row = self._row(samples.rows[i])
            tint = row.source * 0.45 + torch.tensor([1.0, 0.15, 0.15])[:, None, None] * 0.55
            overlay = torch.where(row.edit_mask.bool(), tint, row.source)
            tiles.append(torch.cat([row.source, samples.images[i], overlay], dim=2))
        return torch.cat(tiles, dim=1)

    def _optimizer_state(self) -> dict:
        """The optimizer state with whole tensors, keyed by parameter name (a collective)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        return get_optimizer_state_dict(self.backbone.transformer, self.optimizer,
                                        options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def _checkpoint(self, score: float | None) -> None:
        """Adapters (also in diffusers format), optimizer, step, ban list and every rank's RNG.

        Gathering whole tensors is collective (sharded models), so every process takes part; the
        main process writes.
        """
        rng_states = [ckpt.capture_rng_state()]
        if self.dist.enabled:
            rng_states = [None] * self.dist.world
            dist.all_gather_object(rng_states, ckpt.capture_rng_state())
        current = [_full(p.detach()).cpu() for p in self.current]
        old = [_full(p.detach()).cpu() for p in self.old]
        optimizer = self._optimizer_state()
        lora = full_lora_state_dict(self.backbone, CURRENT)

        def write(folder: Path) -> None:
            torch.save({"current": current, "old": old, "optimizer": optimizer, "step": self.step,
                        "banned": sorted(self.banned), "rng": rng_states}, folder / "trainer_state.pt")
            save_lora(self.backbone, CURRENT, folder / "lora", state=lora)

        if self.dist.main:
            ckpt.save_checkpoint(self.run_dir / "checkpoints", self.step, write, self.config.train.keep_last, score)
        self.dist.barrier()

    def _resume(self) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        folder = ckpt.latest_checkpoint(self.run_dir / "checkpoints")
        if folder is None:
            raise FileNotFoundError(f"{self.run_dir}: no checkpoint to resume from")
        state = torch.load(folder / "trainer_state.pt", weights_only=False)
        with torch.no_grad():
            for params, saved in ((self.current, state["current"]), (self.old, state["old"])):
                for p, whole in zip(params, saved):
                    p.copy_(_like(p, whole))
        set_optimizer_state_dict(self.backbone.transformer, self.optimizer, state["optimizer"],
                                 options=StateDictOptions(full_state_dict=True))
        self.step = state["step"]
        self.banned = set(state["banned"])
        if len(state["rng"]) == self.dist.world:
            ckpt.restore_rng_state(state["rng"][self.dist.rank])

    def _write_run_info(self, resume: bool) -> None:
        config = self.config.model_dump(mode="json")
        path = self.run_dir / "config.yaml"
        if resume:
            saved = yaml.safe_load(path.read_text(encoding="utf-8"))
            diffs = ckpt.config_differences(saved, config, RESUMABLE_CHANGES)
            if diffs:
                raise ValueError("the config differs from the run being resumed in keys that change results: "
                                 + "; ".join(diffs))
        if self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            info = {"cocoedit_version": cocoedit.__version__, "git_commit": _git_commit(),
                    "torch_version": torch.__version__, "world_size": self.dist.world,
                    "backbone": self.backbone.kind}
            (self.run_dir / "run_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")

    # -- the loop -------------------------------------------------------------------------------
    def train(self, resume: bool = False) -> None:
        c = self.config
        if resume:
            self._write_run_info(resume=True)
            self._resume()
        else:
            if ckpt.latest_checkpoint(self.run_dir / "checkpoints") is not None:
                raise FileExistsError(f"{self.run_dir} already holds a run; pass --resume or choose another --run-dir")
            self._write_run_info(resume=False)
        self.logger = RunLogger(self.run_dir, c.train.logger, c.model_dump(mode="json"), enabled=self.dist.main)
        try:
            with ThreadPoolExecutor(c.reward.workers, thread_name_prefix="reward") as pool:
                while self.step < c.train.epochs:
                    self._one_epoch(pool)
        finally:
            self.logger.close()
            for fn in self.rewards.values():
                if hasattr(fn, "close"):
                    fn.close()

    def _one_epoch(self, pool: ThreadPoolExecutor) -> None:
        c = self.config
        t0 = time.perf_counter()
        plan = plan_epoch(len(self.samples), c.sampling.prompts_per_epoch, c.sampling.group_size, self.step,
                          c.train.seed, self.banned, self.dist.world, self.dist.rank)
        samples = self._sample_epoch(plan, pool)
        local, stats = self._collect_rewards(samples, plan)
        stats.update(self._train_epoch(plan, samples, local["r"], local["valid"]))
        self.step += 1
        stats["time/sampling"] = samples.seconds
        stats["time/epoch"] = time.perf_counter() - t0
        if torch.cuda.is_available():
            stats["memory/peak_gb"] = torch.cuda.max_memory_allocated() / 2**30
        score = None
        if self.dist.main and (self.step % c.train.validate_every == 0 or self.step == c.train.epochs):
            val = self.validate()  # only the main process logs and scores checkpoints
            stats.update(val)
            score = val.get("val/combined")
        if self.dist.main:
            self.logger.log(self.step, stats)
            if self.step % c.train.sample_grid_every == 0 or self.step == 1:
                grid = self._sample_grid(samples)
                self.logger.log_image(self.step, "samples", grid)
                from cocoedit.data.io import save_image

                save_image(grid, self.run_dir / "samples" / f"step-{self.step:06d}.png")
        if self.step % c.train.checkpoint_every == 0 or self.step == c.train.epochs:
            self._checkpoint(score)
        if self.progress is not None and self.dist.main:
            self.progress({"step": self.step, **stats})


def _full(t: torch.Tensor) -> torch.Tensor:
    """A whole tensor from a DTensor shard (collective), anything else unchanged."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def _like(param: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    """``whole`` laid out like ``param``: sharded the same way when ``param`` is a DTensor."""
    if hasattr(param, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(whole.to(param.device_mesh.device_type), param.device_mesh, param.placements)
    return whole.to(param.device)


def _shard_transformer(transformer: torch.nn.Module, world: int) -> None:
    """FSDP2: shard every block of the transformer's block lists, then the rest of it."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    device_type = "cuda" if next(transformer.parameters()).is_cuda else "cpu"
    mesh = init_device_mesh(device_type, (world,))
    for child in transformer.children():
        if isinstance(child, torch.nn.ModuleList):
            for block in child:
                fully_shard(block, mesh=mesh)
    fully_shard(transformer, mesh=mesh)


def init_distributed() -> None:
    """Join the process group when launched by ``accelerate launch`` or torchrun (WORLD_SIZE > 1):
    accelerate picks the backend (NCCL on GPUs, gloo on CPUs)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not (dist.is_available() and dist.is_initialized()):
        from accelerate import PartialState

        PartialState()


def _default_device() -> str:
    """``cuda:<local rank>`` when CUDA is available, else ``cpu``."""
    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count()}"


def _nanmean(t: torch.Tensor) -> float:
    finite = t[torch.isfinite(t)]
    return finite.float().mean().item() if finite.numel() else math.nan


def _nanstd(t: torch.Tensor) -> float:
    finite = t[torch.isfinite(t)]
    return finite.float().std(unbiased=False).item() if finite.numel() else math.nan
