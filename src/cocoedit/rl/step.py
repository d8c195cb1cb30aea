"""One RL step, the whole update: from the epoch's scored rollouts to new adapters (method.md
§b.4–§b.10, §c).

:class:`PolicyUpdate` owns the optimizer half of a run: per step it zeroes the gradients, calls
:func:`accumulate_gradients`, averages the gradients over processes, clips them, takes the
optimizer step (skipped when no sample of the epoch is valid, ``skip_step_without_valid``), checks
the adapters are finite, and moves the old adapter towards the current one
(:mod:`cocoedit.rl.old_policy`).

:func:`accumulate_gradients` takes the epoch's rollouts (a :class:`RolloutBatch`: clean samples,
conditions, each sample's :class:`~cocoedit.rl.advantages.Credit`, latent edit masks, per-sample
seeds) and, for every micro-batch and for each sample ``num_timesteps`` of the rollout's
timesteps in the sample's own random order:

1. noises the clean sample (:func:`cocoedit.models.flow.noisy`, ``eps`` from the sample's
   generator);
2. predicts with the old policy (no gradient), the reference policy (adapters off, no gradient,
   only when the KL weight is not 0) and the current policy (with gradient);
3. adds ``L_policy`` (DiffusionNFT, :func:`~cocoedit.rl.nft_loss.nft_policy_loss`; with region
   credit ``r`` is a per-element map, :func:`~cocoedit.rl.advantages.credit_maps`), ``L_KL`` and
   the region regularizers (:func:`~cocoedit.rl.regularizers.region_regularizers`, on the unpacked
   latent grid, edit mask 1 = edit);
4. back-propagates ``L / passes`` **inside** the current policy's context, so that a transformer
   with gradient checkpointing recomputes its activations with the same adapter active.

The three policies come from a :class:`Policies` object; :class:`AdapterPolicies` gives them from
one transformer with two LoRA adapters. Nothing here knows which backbone it trains.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

from cocoedit.core.errors import CocoEditError
from cocoedit.models.backbone import EditBackbone
from cocoedit.models.condition import EditCondition
from cocoedit.models.flow import noisy
from cocoedit.models.lora import adapters_disabled, use_adapter
from cocoedit.rl.advantages import Credit, credit_maps, region_share
from cocoedit.rl.config import CreditConfig
from cocoedit.rl.distributed import ProcessGroup, full_tensor
from cocoedit.rl.nft_loss import kl_to_reference, nft_policy_loss, trained_timesteps
from cocoedit.rl.old_policy import DecaySchedule, old_policy_decay, soft_update_
from cocoedit.rl.regularizers import region_regularizers

if TYPE_CHECKING:
    from cocoedit.rl.config import CocoEditConfig, RegularizerConfig

Predict = Callable[[torch.Tensor, torch.Tensor, EditCondition], torch.Tensor]
Layout = Callable[[torch.Tensor], torch.Tensor]


class NonFiniteError(CocoEditError):
    """A loss or an adapter weight became NaN or infinite; the run stops before saving anything."""


class Policies(Protocol):
    """The three velocity predictions of a step: packed ``x_t [B, N, D]``, ``t [B]``, a condition."""

    def old(self, x_t: torch.Tensor, t: torch.Tensor, cond: EditCondition) -> torch.Tensor:
        """The sampling (old) policy, without gradient."""

    def reference(self, x_t: torch.Tensor, t: torch.Tensor, cond: EditCondition) -> torch.Tensor:
        """The frozen base model, without gradient."""

    def current(self) -> AbstractContextManager[Predict]:
        """A context giving the trained policy's prediction; backward must run inside it."""


class AdapterPolicies:
    """The policies of one backbone with two LoRA adapters: ``current`` (trained), ``old``
    (sampling), and the reference with every adapter disabled. On CUDA the forward passes run under
    bf16 autocast (the adapters stay float32)."""

    def __init__(self, backbone: EditBackbone, current: str, old: str):
        self.backbone, self.current_name, self.old_name = backbone, current, old

    def autocast(self) -> AbstractContextManager:
        if self.backbone.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def old(self, x_t: torch.Tensor, t: torch.Tensor, cond: EditCondition) -> torch.Tensor:
        with torch.no_grad(), use_adapter(self.backbone, self.old_name), self.autocast():
            return self.backbone.predict_velocity(x_t, t, cond)

    def reference(self, x_t: torch.Tensor, t: torch.Tensor, cond: EditCondition) -> torch.Tensor:
        with torch.no_grad(), adapters_disabled(self.backbone), self.autocast():
            return self.backbone.predict_velocity(x_t, t, cond)

    @contextmanager
    def current(self) -> Iterator[Predict]:
        with use_adapter(self.backbone, self.current_name):

            def predict(x_t: torch.Tensor, t: torch.Tensor, cond: EditCondition) -> torch.Tensor:
                with self.autocast():
                    return self.backbone.predict_velocity(x_t, t, cond)

            yield predict


@dataclass(frozen=True)
class RolloutBatch:
    """This process's scored rollouts of one epoch (``n`` samples).

    ``clean``: packed clean samples ``[n, N, D]``; ``conditions``: one condition of batch size 1
    per sample; ``credit``: each sample's ``r`` and validity per region, ``[n]`` each;
    ``edit_masks``: ``[n, 1, h, w]`` on the latent grid, 1 = edit; ``seeds``: each sample's seed
    for its training timesteps and noise.
    """

    clean: torch.Tensor
    conditions: Sequence[EditCondition]
    credit: Credit
    edit_masks: torch.Tensor
    seeds: Sequence[int]

    def __len__(self) -> int:
        return self.clean.shape[0]


@dataclass(frozen=True, kw_only=True)
class StepSettings:
    """Everything a step needs besides the batch. ``timesteps``: the rollout's training sigmas
    ``[T]``, ``num_timesteps`` of them per sample; ``regularizer`` None = off; ``credit``: the
    ring and the region weights of region credit (used only when the batch's credit differs
    between regions)."""

    timesteps: torch.Tensor
    num_timesteps: int
    micro_batch_size: int
    beta: float = 1.0
    adv_clip_max: float = 5.0
    kl_weight: float = 0.0
    regularizer: RegularizerConfig | None = None
    credit: CreditConfig | None = None
    grad_clip: float = 1.0
    skip_step_without_valid: bool = True
    old_policy_decay: DecaySchedule = "linear"

    @classmethod
    def from_config(cls, config: CocoEditConfig, timesteps: torch.Tensor) -> StepSettings:
        c = config
        return cls(
            timesteps=timesteps,
            num_timesteps=trained_timesteps(c.sampling.steps, c.nft.timestep_fraction),
            micro_batch_size=c.optim.train_batch_size,
            beta=c.nft.beta,
            adv_clip_max=c.advantage.adv_clip_max,
            kl_weight=c.nft.kl_weight,
            regularizer=c.regularizer if c.regularizer.enabled else None,
            credit=c.credit,
            grad_clip=c.optim.grad_clip,
            skip_step_without_valid=c.optim.skip_step_without_valid,
            old_policy_decay=c.optim.old_policy_decay,
        )


@dataclass(frozen=True)
class StepLosses:
    """Each term's mean over the epoch's passes (the regularizer terms: over valid samples)."""

    policy: float
    kl: float
    keep_region: float
    edit_region: float
    passes: int

    def as_metrics(self) -> dict[str, float]:
        return {
            "loss/policy": self.policy,
            "loss/kl": self.kl,
            "loss/keep_region": self.keep_region,
            "loss/edit_region": self.edit_region,
        }


def _valid_mean(values: torch.Tensor, valid: torch.Tensor) -> float:
    v = valid.to(values.dtype)
    return float((values * v).sum() / v.sum().clamp_min(1))


def accumulate_gradients(
    batch: RolloutBatch, policies: Policies, settings: StepSettings, *, unpack: Layout, pack: Layout
) -> StepLosses:
    """Back-propagate the epoch's loss into the current policy's gradients (see the module doc).

    ``unpack`` maps packed latents ``[B, N, D]`` to the latent grid ``[B, C, h, w]`` and ``pack``
    back. The loss of each pass is divided by the number of passes, so the gradients are those of
    the epoch's mean loss. Raises :class:`NonFiniteError` at the first non-finite loss, naming the
    pass and terms.
    """
    n, s = len(batch), settings
    device = batch.clean.device
    micro_batches = math.ceil(n / s.micro_batch_size)
    passes = micro_batches * s.num_timesteps
    totals = {"policy": 0.0, "kl": 0.0, "keep_region": 0.0, "edit_region": 0.0}
    for m, start in enumerate(range(0, n, s.micro_batch_size)):
        idx = list(range(start, min(start + s.micro_batch_size, n)))
        cond = EditCondition.cat([batch.conditions[i] for i in idx])
        x0 = batch.clean[idx]
        credit = batch.credit.select(idx).to(device)
        valid = credit.valid
        edit_masks = batch.edit_masks[idx].to(device)
        x_src = unpack(cond.source_latents).float()
        if credit.is_single:
            r, weight = credit.r_edit, None
        else:
            g = s.credit or CreditConfig()
            share = region_share(edit_masks, ring_radius=g.ring_radius, ring_weight=g.ring_weight)
            r, weight = credit_maps(share, credit, equal=g.region_weights == "equal")
            channels = x_src.shape[1]
            r, weight = pack(r.expand(-1, channels, -1, -1)), pack(weight.expand(-1, channels, -1, -1))
        generators = [torch.Generator().manual_seed(batch.seeds[i]) for i in idx]
        order = torch.stack([torch.randperm(len(s.timesteps), generator=g) for g in generators])
        for j in range(s.num_timesteps):
            t = s.timesteps[order[:, j]].to(device=device, dtype=x0.dtype)
            eps = torch.stack([torch.randn(x0.shape[1:], generator=g) for g in generators]).to(
                device=device, dtype=x0.dtype
            )
            x_t = noisy(x0, eps, t)
            v_old = policies.old(x_t, t, cond)
            v_ref = policies.reference(x_t, t, cond) if s.kl_weight > 0 else None
            with policies.current() as predict:
                v_theta = predict(x_t, t, cond)
                policy = nft_policy_loss(
                    r,
                    v_theta.float(),
                    v_old.float(),
                    x_t.float(),
                    x0.float(),
                    t.float(),
                    valid,
                    beta=s.beta,
                    adv_clip_max=s.adv_clip_max,
                    weight=weight,
                )
                loss = policy.loss
                terms = {"policy": policy.loss.detach()}
                if v_ref is not None:
                    kl = kl_to_reference(v_theta, v_ref, valid, s.kl_weight)
                    loss = loss + kl
                    terms["kl"] = kl.detach()
                if s.regularizer is not None:
                    reg = region_regularizers(
                        x0_positive=unpack(policy.x0_positive),
                        x0_negative=unpack(policy.x0_negative),
                        x0_sample=unpack(x0.float()),
                        x_source=x_src,
                        edit_mask=edit_masks,
                        credit=credit,
                        settings=s.regularizer,
                    )
                    loss = loss + reg.loss
                    terms["keep_region"] = torch.tensor(_valid_mean(reg.keep_term, valid))
                    terms["edit_region"] = torch.tensor(_valid_mean(reg.edit_term, valid))
                if not torch.isfinite(loss):
                    values = ", ".join(f"{k} {float(v):.4g}" for k, v in terms.items())
                    raise NonFiniteError(
                        f"the loss is {float(loss.detach())} at micro-batch {m + 1}/{micro_batches}, "
                        f"timestep pass {j + 1}/{s.num_timesteps} ({values})"
                    )
                (loss / passes).backward()
            for k, v in terms.items():
                totals[k] += float(v) / passes
    return StepLosses(totals["policy"], totals["kl"], totals["keep_region"], totals["edit_region"], passes)


@dataclass(frozen=True)
class StepResult:
    """What one :meth:`PolicyUpdate.step` did: the loss terms, the gradient norm before clipping,
    whether the optimizer stepped, and the old adapter's decay."""

    losses: StepLosses
    grad_norm: float
    stepped: bool
    decay: float

    def as_metrics(self) -> dict[str, float]:
        return {
            **self.losses.as_metrics(),
            "train/grad_norm": self.grad_norm,
            "train/old_decay": self.decay,
            "train/stepped": float(self.stepped),
        }


class PolicyUpdate:
    """The whole update of one run: gradients, clipping, the optimizer step, the old adapter.

    ``current`` / ``old``: the two adapters' parameters in the same order (``old`` without
    gradient); ``pack`` / ``unpack``: the backbone's latent layout. ``dist`` averages gradients
    over processes (``sharded``: FSDP2 has reduced them in backward already).
    """

    def __init__(
        self,
        *,
        policies: Policies,
        current: Sequence[torch.nn.Parameter],
        old: Sequence[torch.Tensor],
        optimizer: torch.optim.Optimizer,
        settings: StepSettings,
        pack: Layout,
        unpack: Layout,
        dist: ProcessGroup | None = None,
        sharded: bool = False,
    ):
        self.policies, self.current, self.old = policies, list(current), list(old)
        self.optimizer, self.settings = optimizer, settings
        self.pack, self.unpack = pack, unpack
        self.dist, self.sharded = dist or ProcessGroup(), sharded

    def step(self, batch: RolloutBatch, number: int) -> StepResult:
        """Optimizer step ``number`` (1-based) on ``batch``; the old adapter then moves towards the
        current one with the decay of step ``number`` (the reference's convention). Raises
        :class:`NonFiniteError` when a loss or, after the step, an adapter weight is not finite."""
        s, device = self.settings, batch.clean.device
        self.optimizer.zero_grad(set_to_none=True)
        losses = accumulate_gradients(batch, self.policies, s, unpack=self.unpack, pack=self.pack)
        if not self.sharded:  # FSDP2 has already reduced the gradients in backward
            self.dist.average_gradients(self.current)
        grad_norm = full_tensor(torch.nn.utils.clip_grad_norm_(self.current, s.grad_clip)).item()
        stepped = self.dist.any(bool(batch.credit.valid.any()), device) or not s.skip_step_without_valid
        if stepped:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if not all(bool(torch.isfinite(full_tensor(p.detach())).all()) for p in self.current):
            raise NonFiniteError(
                f"step {number}: an adapter weight is not finite after the optimizer step "
                f"(gradient norm {grad_norm:.4g}); nothing was saved"
            )
        decay = old_policy_decay(number, s.old_policy_decay)
        soft_update_(self.old, self.current, decay)
        return StepResult(losses, grad_norm, stepped, decay)
