"""The CoCoEdit training loop (method.md §a). One epoch = one optimizer step:

1. plan ``prompts_per_epoch`` groups of ``group_size`` samples, sharded over processes
   (:mod:`cocoedit.rl.epoch_plan`);
2. sample with the **old** adapter, decode, and hand the images to the reward threads (the judge
   runs while the next batch is sampled);
3. gather every reward component from all processes, mix, and turn the result into optimality
   probabilities ``r`` with a valid mask (:mod:`cocoedit.rl.advantages`); unscored samples are
   excluded, failure reasons counted, saturated groups banned;
4. the update (:class:`cocoedit.rl.step.PolicyUpdate`): the gradients of ``L_policy + L_KL +
   L_reg`` accumulated over the epoch, averaged over processes, clipped, one AdamW step, then the
   old adapter moved towards the current one;
5. the learning signal's diagnostics (:mod:`cocoedit.rl.diagnostics`): a warning when most groups
   carry none, a stop when none has for ``advantage.no_signal_steps`` steps;
6. log, write sample grids, validate and checkpoint on schedule (:mod:`cocoedit.rl.checkpoint`).

The maths lives in pure functions; this module owns devices, processes, I/O and the schedule, and
never branches on which backbone it trains. Adapters are float32 and drawn from ``train.seed``
(every run and every process starts from the same ones); on CUDA the passes run under bf16
autocast. Data parallelism (``train.parallel``): ``ddp`` keeps the whole transformer on each
process and all-reduces the LoRA gradients; ``fsdp2`` shards it per block with ``fully_shard``.
Either way a run on P processes equals a 1-process run with the same global batch (every sample
draws its noise, also the SDE's, from its own generator).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from cocoedit.core.errors import ServiceUnavailableError
from cocoedit.core.images import save_image
from cocoedit.core.masks import latent_grid_mask
from cocoedit.core.paths import write_text_atomic
from cocoedit.data.manifest import EditSample
from cocoedit.models.backbone import EditBackbone
from cocoedit.models.lora import adapter_parameters, add_lora, copy_adapter, full_lora_state_dict, save_lora
from cocoedit.rewards.base import RewardFunction, mix_rewards
from cocoedit.rewards.registry import close_rewards
from cocoedit.rl import checkpoint as ckpt
from cocoedit.rl.advantages import Credit, assign_credit
from cocoedit.rl.config import CocoEditConfig, ConfigError
from cocoedit.rl.diagnostics import SignalMonitor, signal_metrics
from cocoedit.rl.distributed import ProcessGroup, shard_transformer
from cocoedit.rl.epoch_plan import EpochPlan, plan_epoch, sample_seed
from cocoedit.rl.logging import RunLogger, repair_metrics
from cocoedit.rl.reward_failures import RewardFailureError, append_failures, check_unscored, unscored_stats
from cocoedit.rl.rollouts import EpochSamples, Rollouts, nanmean, nanstd
from cocoedit.rl.run_folder import check_resume, start_run
from cocoedit.rl.step import AdapterPolicies, NonFiniteError, PolicyUpdate, RolloutBatch, StepSettings

if TYPE_CHECKING:
    from cocoedit.rl.preflight import TrainingInputs

CURRENT, OLD = "default", "old"
# Separate random streams from train.seed: rollout noise (the seed itself), training noise and
# timesteps, the adapters' initial weights.
_TRAIN_STREAM = 0x5EED
_ADAPTER_STREAM = 0xADA
# Validation row i always starts from the noise of "sample" _VALIDATION_INDEX + i of epoch 0, so
# validations at different steps compare the same inputs.
_VALIDATION_INDEX = 10**9


class CocoEditTrainer:
    """Owns one training run in ``run_dir``. Build (or :meth:`from_config`), then :meth:`train`.

    ``progress`` (main process) gets each step's stats (``step`` and the logged figures), and once
    on a resume ``{"resumed_at": step}``, the step restored from the checkpoint."""

    def __init__(
        self,
        config: CocoEditConfig,
        run_dir: str | Path,
        backbone: EditBackbone,
        train_samples: Sequence[EditSample],
        reward_functions: Mapping[str, RewardFunction],
        validation_samples: Sequence[EditSample] = (),
        progress: Callable[[dict[str, Any]], None] | None = None,
        accept_changed: Sequence[str] = (),
    ):
        self.config, self.run_dir, self.backbone = config, Path(run_dir), backbone
        self.samples = list(train_samples)
        self.progress, self.accept_changed = progress, tuple(accept_changed)
        self.dist = ProcessGroup()
        missing = sorted(set(config.reward.weights) - set(reward_functions))
        if missing:
            raise ConfigError(f"reward.components names {missing} but no such reward function was given")
        self.rewards = dict(reward_functions)
        self.height, self.width = config.model.height, config.model.width
        backbone.check_resolution(self.height, self.width)
        self.latent_hw = backbone.latent_grid(self.height, self.width)
        self.rollouts = Rollouts(config, backbone, train_samples, validation_samples, self.rewards, self.dist)
        # The rollout's timesteps are the training timesteps (method.md §b.4).
        self.step_settings = StepSettings.from_config(config, self.rollouts.sigmas[:-1])
        self._add_adapters()
        self.policies = AdapterPolicies(backbone, CURRENT, OLD)
        if backbone.device.type == "cuda" and not config.train.cudnn_attention:
            # Process-wide: PyTorch's cuDNN attention backward hit illegal memory accesses on
            # torch 2.11 + CUDA 13 (H100) in our benchmarks; flash / memory-efficient kernels are used.
            torch.backends.cuda.enable_cudnn_sdp(False)
        if config.model.gradient_checkpointing and hasattr(backbone.transformer, "enable_gradient_checkpointing"):
            backbone.transformer.enable_gradient_checkpointing()
        o = config.optim
        self.optimizer = torch.optim.AdamW(self.current, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay, eps=o.eps)
        self.update = PolicyUpdate(
            policies=self.policies,
            current=self.current,
            old=self.old,
            optimizer=self.optimizer,
            settings=self.step_settings,
            pack=backbone.pack,
            unpack=lambda z: backbone.unpack(z, self.height, self.width),
            dist=self.dist,
            sharded=self.sharded,
        )
        self.monitor = SignalMonitor(config)
        self.step = 0
        self.banned: set[int] = set()
        self.logger: RunLogger | None = None

    def _add_adapters(self) -> None:
        """The current and old adapters: float32, drawn from ``train.seed``, equal on every process."""
        m, backbone = self.config.model, self.backbone
        seed = sample_seed(self.config.train.seed ^ _ADAPTER_STREAM, 0, -1)
        self.current = add_lora(backbone, CURRENT, m.lora_rank, m.lora_alpha, m.lora_targets, seed=seed)
        add_lora(backbone, OLD, m.lora_rank, m.lora_alpha, m.lora_targets, seed=seed)
        copy_adapter(backbone, CURRENT, OLD)
        self.sharded = self.config.train.parallel == "fsdp2" and self.dist.enabled
        if self.sharded:
            shard_transformer(backbone.transformer, self.dist.world)
            backbone.refresh_placement()
            self.current = adapter_parameters(backbone, CURRENT)  # fully_shard replaced the parameters
        self.old = adapter_parameters(backbone, OLD)
        # Invariant outside use_adapter blocks: only the current adapter requires grad (autograd
        # does not accumulate into a leaf that stopped requiring grad; peft flips these flags).
        for p in self.old:
            p.requires_grad_(False)
        for p in self.current:
            p.requires_grad_(True)
        self.dist.check_identical(self.current, "the initial adapters")

    @classmethod
    def from_config(
        cls,
        config: CocoEditConfig,
        run_dir: str | Path,
        extra_rewards: Mapping[str, RewardFunction] | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        accept_changed: Sequence[str] = (),
        resume: bool | None = None,
        inputs: TrainingInputs | None = None,
    ) -> CocoEditTrainer:
        """Check the inputs (:func:`~cocoedit.rl.preflight.check_training_inputs`: run folder,
        device, model kind, options and working size, trackers, every manifest row and file), build
        the rewards (a judge is contacted now), then load the backbone: inputs are checked before
        the slow part. ``extra_rewards`` supplies components built in code by the names used in
        ``reward.components``. ``inputs``: the result of that check for this config's model and
        manifests, made once by a caller that starts many runs on the same data (the demo)."""
        from cocoedit.models.registry import load_backbone
        from cocoedit.rewards.registry import load_rewards
        from cocoedit.rl.preflight import check_training_inputs

        inputs = inputs or check_training_inputs(config, Path(run_dir), resume)
        m, kind, device = config.model, inputs.kind, inputs.device
        train_samples, validation = inputs.train_samples, inputs.validation_samples
        rewards = load_rewards(config.reward.components, extra_rewards)
        try:
            dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
            backbone = load_backbone(m.path, kind, dtype=dtypes[m.dtype], device=device, **m.backbone_options)
            backbone.set_vae_dtype(dtypes[m.vae_dtype])
            backbone.pipeline.set_progress_bar_config(disable=True)
            return cls(config, run_dir, backbone, train_samples, rewards, validation, progress, accept_changed)
        except BaseException:
            close_rewards(rewards)
            raise

    # -- rewards -> r ----------------------------------------------------------------------------
    def _collect_rewards(self, samples: EpochSamples, plan: EpochPlan) -> tuple[Credit, dict]:
        """This process's credit from the globally gathered rewards, and the statistics."""
        start = time.perf_counter()
        gathered = self.rollouts.gather_scores(samples.futures)
        waited = time.perf_counter() - start
        c = self.config
        stats: dict[str, float] = {f"reward/{n}": nanmean(b.scores) for n, b in gathered.items()}
        ids = [self.samples[row].id for row in plan.prompts[plan.sample_group].tolist()]
        for name, batch in gathered.items():
            stats.update(unscored_stats(name, batch))
            if self.dist.main:
                append_failures(self.run_dir, plan.epoch + 1, name, batch, ids)
            check_unscored(plan.epoch, name, batch, c.reward.weights[name], c.reward.max_unscored_fraction)
        mixed = mix_rewards(gathered, c.reward.weights)
        result = assign_credit(
            {n: (b.scores, b.valid) for n, b in gathered.items()},
            c.reward.weights,
            plan.sample_group,
            advantage=c.advantage,
            credit=c.credit,
        )
        adv = result.combined
        if c.advantage.ban_saturated:
            self.banned.update(plan.prompts[adv.ban].tolist())
        stats.update(
            {
                "reward/combined": nanmean(mixed.scores),
                "reward/scored_fraction": mixed.valid.float().mean().item(),
                "r/mean": nanmean(adv.r),
                "r/std": nanstd(adv.r),
                "train/valid_fraction": result.credit.valid.float().mean().item(),
                "train/banned": float(len(self.banned)),
                "time/waiting_for_rewards": waited,
            }
        )
        stats.update(signal_metrics(result, c.advantage.std_threshold))
        return result.credit.select(slice(plan.start, plan.stop)), stats

    # -- the update -------------------------------------------------------------------------------
    def _update(self, plan: EpochPlan, samples: EpochSamples, credit: Credit) -> dict[str, float]:
        """One step of :class:`~cocoedit.rl.step.PolicyUpdate` on this process's rollouts."""
        start = time.perf_counter()
        c, device = self.config, self.backbone.device
        batch = RolloutBatch(
            clean=samples.clean.to(device),
            conditions=[self.rollouts.condition(i) for i in samples.rows],
            credit=credit,
            edit_masks=latent_grid_mask(
                torch.stack([self.rollouts.row(i).edit_mask for i in samples.rows]), self.latent_hw
            ),
            seeds=[
                sample_seed(c.train.seed ^ _TRAIN_STREAM, plan.epoch, plan.start + i) for i in range(len(samples.rows))
            ],
        )
        result = self.update.step(batch, self.step + 1)
        return {
            **result.as_metrics(),
            # each process computed the losses on its share of the epoch: their mean is the epoch's
            **self.dist.mean(result.losses.as_metrics()),
            "train/lr": self.optimizer.param_groups[0]["lr"],
            "time/training": time.perf_counter() - start,
        }

    # -- validation, grids, checkpoints -----------------------------------------------------------
    def _checkpoint(self, score: float | None) -> None:
        """Adapters (also in diffusers format), optimizer, step, ban list and every rank's RNG.
        Gathering whole tensors is collective (sharded models): every process takes part; the
        main process checks the adapters are finite, then writes."""
        state = ckpt.capture_trainer_state(
            self.backbone.transformer,
            self.optimizer,
            CURRENT,
            OLD,
            self.step,
            self.banned,
            self.dist.gather_objects(ckpt.capture_rng_state()),
        )
        lora = full_lora_state_dict(self.backbone, CURRENT)
        if self.dist.main:
            bad = [n for n, t in state.current.items() if not torch.isfinite(t).all()]
            if bad:
                raise NonFiniteError(
                    f"step {self.step}: adapter weight {bad[0]} is not finite; the checkpoint was not written"
                )

            def write(folder: Path) -> None:
                ckpt.write_trainer_state(folder, state)
                save_lora(self.backbone, CURRENT, folder / "lora", state=lora)

            ckpt.save_checkpoint(self.run_dir / "checkpoints", self.step, write, self.config.train.keep_last, score)
        self.dist.barrier()

    def _restore(self, folder: Path) -> None:
        state = ckpt.read_trainer_state(folder)
        ckpt.restore_trainer_state(state, self.backbone.transformer, self.optimizer, CURRENT, OLD)
        self.step, self.banned = state.step, set(state.banned)
        if len(state.rng) == self.dist.world:
            ckpt.restore_rng_state(state.rng[self.dist.rank])

    # -- the loop ---------------------------------------------------------------------------------
    def train(self, resume: bool = False) -> None:
        """Run (or with ``resume``, continue) until ``train.epochs`` steps. A judge that stays
        unreachable, or a reward failing on too much of an epoch, stops the run after a
        checkpoint of the last completed step, so ``--resume`` continues from there."""
        c, checkpoints = self.config, self.run_dir / "checkpoints"
        if resume:
            check_resume(self.run_dir, c, self.accept_changed, write=self.dist.main)
            folder = ckpt.latest_checkpoint(checkpoints)
            if folder is not None:
                self._restore(folder)
                if self.progress is not None and self.dist.main:
                    self.progress({"resumed_at": self.step})
            if self.dist.main:
                ckpt.remove_partial_checkpoints(checkpoints)
                repair_metrics(self.run_dir, self.step)
        elif self.dist.main:
            start_run(self.run_dir, c, self.dist.world, self.backbone.kind)
        self.dist.barrier()
        self.logger = RunLogger(
            self.run_dir,
            c.train.report_to,
            c.model_dump(mode="json"),
            enabled=self.dist.main,
            wandb=c.train.wandb.model_dump(),
        )
        try:
            # Each reward thread holds one sampling batch until every component scored it: fewer
            # threads than batches would cap the judge requests in flight below the judge's concurrency.
            batches = -(
                -c.sampling.prompts_per_epoch * c.sampling.group_size // self.dist.world // c.sampling.batch_size
            )
            with ThreadPoolExecutor(c.reward.workers or batches, thread_name_prefix="reward") as pool:
                while self.step < c.train.epochs:
                    try:
                        self._one_epoch(pool)
                    except (ServiceUnavailableError, RewardFailureError):
                        latest = ckpt.latest_checkpoint(checkpoints)
                        if self.step > 0 and (latest is None or ckpt.read_checkpoint_meta(latest)["step"] != self.step):
                            self._checkpoint(None)
                        raise
        finally:
            self.logger.close()
            close_rewards(self.rewards)

    def _one_epoch(self, pool: ThreadPoolExecutor) -> None:
        c = self.config
        t0 = time.perf_counter()
        plan = plan_epoch(
            len(self.samples),
            c.sampling.prompts_per_epoch,
            c.sampling.group_size,
            self.step,
            c.train.seed,
            self.banned,
            self.dist.world,
            self.dist.rank,
        )
        samples = self.rollouts.sample_epoch(plan, self.policies.old, pool)
        credit, stats = self._collect_rewards(samples, plan)
        stats.update(self.rollouts.group_spread(samples, plan))
        stats.update(self._update(plan, samples, credit))
        self.step += 1
        stats.update({"time/sampling": samples.seconds, "time/epoch": time.perf_counter() - t0})
        if torch.cuda.is_available():
            stats["memory/peak_gb"] = torch.cuda.max_memory_allocated() / 2**30
        score = None
        if self.step % c.train.validate_every == 0 or self.step == c.train.epochs:
            with self.policies.current() as predict:
                stats.update(self.rollouts.validate(predict))
            score = stats.get("val/combined")
        if self.dist.main:
            self.logger.log(self.step, stats)
            if self.step % c.train.sample_grid_every == 0 or self.step == 1:
                grid, captions = self.rollouts.sample_grid(samples)
                self.logger.log_image(self.step, "samples", grid)
                save_image(grid, self.run_dir / "samples" / f"step-{self.step:06d}.png")
                _write_json(
                    self.run_dir / "samples" / f"step-{self.step:06d}.json", {"step": self.step, "rows": captions}
                )
        # Stops a run in which no group has carried a signal for advantage.no_signal_steps steps
        # (after logging, so metrics.jsonl shows the steps it names).
        self.monitor.observe(self.step, stats)
        if self.step % c.train.checkpoint_every == 0 or self.step == c.train.epochs:
            self._checkpoint(score)
        if self.progress is not None and self.dist.main:
            self.progress({"step": self.step, **stats})


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data))
