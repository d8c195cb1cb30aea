"""One epoch's policy update, as a function over the rollout batch (method.md §b.4–§b.9, §c).

:func:`accumulate_gradients` takes the epoch's rollouts once they are scored (a
:class:`RolloutBatch`: clean samples, conditions, ``r``, validity, latent edit masks, per-sample
seeds) and, for every micro-batch and for each sample ``num_timesteps`` of the rollout's
timesteps in the sample's own random order:

1. noises the clean sample, ``x_t = (1 - t) x0 + t eps`` (``eps`` from the sample's generator);
2. predicts with the old policy (no gradient), the reference policy (adapters off, no gradient,
   only when the KL weight is not 0) and the current policy (with gradient);
3. adds ``L_policy`` (DiffusionNFT, :func:`~cocoedit.rl.nft_loss.nft_policy_loss`), ``L_KL`` and
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
from typing import Protocol

import torch

from cocoedit.core.errors import CocoEditError
from cocoedit.models.backbone import EditBackbone
from cocoedit.models.condition import EditCondition
from cocoedit.models.lora import adapters_disabled, use_adapter
from cocoedit.rl.config import RegularizerConfig
from cocoedit.rl.nft_loss import kl_to_reference, nft_policy_loss
from cocoedit.rl.regularizers import region_regularizers

Predict = Callable[[torch.Tensor, torch.Tensor, EditCondition], torch.Tensor]


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
    per sample; ``r``, ``valid``: ``[n]``; ``edit_masks``: ``[n, 1, h, w]`` on the latent grid,
    1 = edit; ``seeds``: each sample's seed for its training timesteps and noise.
    """

    clean: torch.Tensor
    conditions: Sequence[EditCondition]
    r: torch.Tensor
    valid: torch.Tensor
    edit_masks: torch.Tensor
    seeds: Sequence[int]

    def __len__(self) -> int:
        return self.clean.shape[0]


@dataclass(frozen=True)
class StepSettings:
    """``timesteps``: the rollout's training sigmas ``[T]``; ``num_timesteps`` of them per sample."""

    timesteps: torch.Tensor
    num_timesteps: int
    micro_batch_size: int
    beta: float
    adv_clip_max: float
    kl_weight: float
    regularizer: RegularizerConfig | None


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
    batch: RolloutBatch, policies: Policies, settings: StepSettings, unpack: Callable[[torch.Tensor], torch.Tensor]
) -> StepLosses:
    """Back-propagate the epoch's loss into the current policy's gradients (see the module doc).

    ``unpack`` maps packed latents ``[B, N, D]`` to the latent grid ``[B, C, h, w]``. The loss of
    each pass is divided by the number of passes, so the gradients are those of the epoch's mean
    loss. Raises :class:`NonFiniteError` at the first non-finite loss, naming the pass and terms.
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
        r, valid = batch.r[idx].to(device), batch.valid[idx].to(device)
        x_src = unpack(cond.source_latents).float()
        generators = [torch.Generator().manual_seed(batch.seeds[i]) for i in idx]
        order = torch.stack([torch.randperm(len(s.timesteps), generator=g) for g in generators])
        for j in range(s.num_timesteps):
            t = s.timesteps[order[:, j]].to(device=device, dtype=x0.dtype)
            eps = torch.stack([torch.randn(x0.shape[1:], generator=g) for g in generators]).to(
                device=device, dtype=x0.dtype
            )
            x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
            v_old = policies.old(x_t, t, cond)
            v_ref = policies.reference(x_t, t, cond) if s.kl_weight > 0 else None
            with policies.current() as predict:
                v_theta = predict(x_t, t, cond)
                policy = nft_policy_loss(
                    r, v_theta.float(), v_old.float(), x_t.float(), x0.float(), t.float(), valid, s.beta, s.adv_clip_max
                )
                loss = policy.loss
                terms = {"policy": policy.loss.detach()}
                if v_ref is not None:
                    kl = kl_to_reference(v_theta, v_ref, valid, s.kl_weight)
                    loss = loss + kl
                    terms["kl"] = kl.detach()
                if s.regularizer is not None:
                    g = s.regularizer
                    reg = region_regularizers(
                        unpack(policy.x0_positive),
                        unpack(policy.x0_negative),
                        unpack(x0.float()),
                        x_src,
                        batch.edit_masks[idx].to(device),
                        r,
                        valid,
                        g.lambda_ner,
                        g.lambda_er,
                        g.tau_pos,
                        g.tau_neg,
                        g.erode_radius,
                        g.ring_weight,
                        g.positive_target,
                        edit_term=g.edit_term,
                        edit_distance=g.edit_distance,
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
