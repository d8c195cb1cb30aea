"""Supervised flow-matching training of the pixel-space editor from scratch (``cocoedit sft``).

Training pairs come from a manifest whose rows have a ``target``. Each step draws a batch, noises
the target, ``x_t = (1 - t) x0 + t eps`` with ``t ~ U(0, 1)``, and regresses, given the
instruction and the source, the velocity ``eps - x0`` (``prediction: velocity``) or, for an editor
that predicts its residual to the source (``source_residual``, see :mod:`cocoedit.demo.pixel_editor`),
the clean image ``x0`` through ``x0_hat = x_t - t v_hat`` (an x0-space MSE: uniform over t, where
a velocity MSE would weigh small t by ``1 / t^2``). The transformer and the word embedder are
trained, with AdamW.

To get a base model that edits but *drifts in the keep region*, as real editors do, a share
``drift_probability`` of the training targets have their keep region perturbed: a random colour
shift of up to ``drift_strength`` per channel (and the same shift for the whole keep region), so
the model learns that the rest of the image may change a little. The edit region is untouched.

So that the editor's output depends on its initial noise on the edit region, as a diffusion
editor's does, a share ``partial_edit_probability`` of the targets have their edit done only in
part: ``source + a (target - source)`` on the edit region with ``a`` uniform in
``[partial_edit_min, 1]``. The editor then learns a distribution of edits (from half-done to
complete) and its initial noise picks one; without it the synthetic task's target is a function
of the source and the instruction, a well-trained editor maps every noise to nearly the same
edit, and group-relative RL has nothing to compare (docs/demo.md). The test pairs and the judge
are unchanged: the judge scores a half-done edit lower, as it scores any other imperfect one.

Copying the keep region is learnt first (it is most of the loss); the edit itself comes later.
``edit_loss_weight`` multiplies the squared error of the edit region's pixels so that a short run
learns both: a CPU demo cannot afford the thousands of steps an unweighted loss needs. For the
same reason the saved weights are an exponential moving average (``ema_decay``) of the trained
ones. The learning rate warms up over the first 5% of the steps and then stays constant: copying
the source through attention is learnt abruptly after a few hundred steps, and a decaying rate
(cosine to zero) arrived there too late in short runs (17 dB instead of 23 dB keep-region PSNR
after 300 identity steps).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from cocoedit.data.manifest import read_manifest
from cocoedit.data.rows import prepare_row
from cocoedit.demo.pixel_editor import build_pixel_editor
from cocoedit.models.flow import noisy, velocity_target, x0_from_velocity
from cocoedit.models.registry import wrap_pipeline


@dataclass(frozen=True)
class SFTConfig:
    size: int = 32
    steps: int = 2000
    batch_size: int = 16
    lr: float = 3e-4
    drift_probability: float = 0.3
    drift_strength: float = 0.15
    edit_loss_weight: float = 4.0
    ema_decay: float = 0.99
    partial_edit_probability: float = 0.5
    partial_edit_min: float = 0.4
    seed: int = 0
    heads: int = 4
    head_dim: int = 16
    layers: int = 2
    single_layers: int = 2
    conditioning: str = "channels"
    prediction: str = "source_residual"


def drift_keep_region(
    target: torch.Tensor, edit_mask: torch.Tensor, strength: float, generator: torch.Generator
) -> torch.Tensor:
    """``target [B, 3, H, W]`` with each image's keep region (``edit_mask`` 0) shifted by one random
    colour offset in ``[-strength, strength]`` per channel, clipped to [0, 1]."""
    shift = (torch.rand(target.shape[0], 3, 1, 1, generator=generator) * 2 - 1) * strength
    keep = 1 - edit_mask
    return (target + shift * keep).clamp(0, 1)


def partial_edit(
    target: torch.Tensor, source: torch.Tensor, edit_mask: torch.Tensor, lowest: float, generator: torch.Generator
) -> torch.Tensor:
    """``target`` with each image's edit region done at a random strength ``a`` in ``[lowest, 1]``:
    ``source + a (target - source)`` there, the keep region unchanged."""
    a = lowest + (1 - lowest) * torch.rand(target.shape[0], 1, 1, 1, generator=generator)
    return target + edit_mask * (a - 1) * (target - source)


def training_targets(
    target: torch.Tensor, source: torch.Tensor, edit_mask: torch.Tensor, config: SFTConfig, generator: torch.Generator
) -> torch.Tensor:
    """A batch's training targets ``[B, 3, H, W]``: a share ``drift_probability`` with the keep
    region drifted (:func:`drift_keep_region`), then a share ``partial_edit_probability`` with the
    edit done in part (:func:`partial_edit`); each image drawn on its own from ``generator``."""
    drift = torch.rand(len(target), generator=generator) < config.drift_probability
    if drift.any():
        drifted = drift_keep_region(target, edit_mask, config.drift_strength, generator)
        target = torch.where(drift[:, None, None, None], drifted, target)
    if config.partial_edit_probability > 0:
        partial = torch.rand(len(target), generator=generator) < config.partial_edit_probability
        weaker = partial_edit(target, source, edit_mask, config.partial_edit_min, generator)
        target = torch.where(partial[:, None, None, None], weaker, target)
    return target


def pixel_loss_weights(edit_mask: torch.Tensor, edit_weight: float, pack) -> torch.Tensor:
    """Per-element weights of the packed pixel latents: ``edit_weight`` on the edit region's pixels,
    1 elsewhere. ``edit_mask [B, 1, H, W]``; ``pack`` is the backbone's pixel -> packed rearrangement."""
    weights = 1 + (edit_weight - 1) * edit_mask.expand(-1, 3, -1, -1)
    return pack(torch.nn.functional.pixel_unshuffle(weights, 2))


def train_pixel_editor(
    manifest: str | Path,
    out_dir: str | Path,
    config: SFTConfig = SFTConfig(),
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train a pixel editor on ``manifest``; save it (``save_pretrained``) to ``out_dir``.

    Returns the loss of every step. ``progress(step, loss)`` is called after each step.
    """
    samples = read_manifest(manifest)
    missing = [s.id for s in samples if s.target is None]
    if missing:
        raise ValueError(
            f"{manifest}: sft needs a target image in every row; {len(missing)} rows have none (first: {missing[0]!r})"
        )
    rows = [prepare_row(s, config.size, config.size) for s in samples]
    sources = torch.stack([r.source for r in rows])
    targets = torch.stack([r.target for r in rows])
    masks = torch.stack([r.edit_mask for r in rows])
    instructions = [r.sample.instruction for r in rows]

    pipe = build_pixel_editor(
        config.heads,
        config.head_dim,
        config.layers,
        config.single_layers,
        seed=config.seed,
        conditioning=config.conditioning,
        prediction=config.prediction,
    )
    backbone = wrap_pipeline(pipe)
    modules = (pipe.transformer, pipe.text_encoder)
    params = [p for module in modules for p in module.parameters()]
    for module in modules:
        module.train()
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=1e-4)
    warmup = max(1, config.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    ema = [p.detach().clone() for p in params]
    gen = torch.Generator().manual_seed(config.seed)
    losses = []
    for step in range(config.steps):
        idx = torch.randint(len(rows), (min(config.batch_size, len(rows)),), generator=gen)
        target = training_targets(targets[idx], sources[idx], masks[idx], config, gen)
        cond = backbone.encode_condition([instructions[i] for i in idx], sources[idx], config.size, config.size)
        x0 = backbone.encode_source(target, config.size, config.size)  # lossless (8-bit) pixels
        eps = torch.randn(x0.shape, generator=gen)
        t = torch.rand(len(idx), generator=gen)
        x_t = noisy(x0, eps, t)
        v = backbone.predict_velocity(x_t, t, cond)
        weights = pixel_loss_weights(masks[idx], config.edit_loss_weight, backbone.pack)
        if config.prediction == "source_residual":
            error = x0_from_velocity(x_t, t, v) - x0
        else:
            error = v - velocity_target(x0, eps)
        loss = (error.square() * weights).sum() / weights.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            for averaged, p in zip(ema, params, strict=True):
                averaged.lerp_(p, 1 - config.ema_decay)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"sft loss became {losses[-1]} at step {step}")
        if progress is not None:
            progress(step + 1, losses[-1])
    with torch.no_grad():
        for p, averaged in zip(params, ema, strict=True):
            p.copy_(averaged)
    for module in modules:
        module.eval()
    out_dir = Path(out_dir)
    pipe.save_pretrained(out_dir)
    (out_dir / "sft_config.json").write_text(
        json.dumps({**asdict(config), "manifest": str(manifest), "final_loss": losses[-1]}, indent=2), encoding="utf-8"
    )
    return losses
