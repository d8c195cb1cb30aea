"""The trainer's own throughput on a GPU: ``CocoEditTrainer.from_config`` with each backbone's smoke
preset, 2 steps per backbone, one prepared command.

For each backbone in :data:`BACKBONES` (one table entry per backbone: its kind, the preset whose
settings it trains with, and how to build it at full size) this script

1. builds the editor: on a GPU, full-size random-weight components built from the published
   configs below (transformer, text encoders, VAE; bf16, built on the GPU, nothing downloaded),
   with the tiny offline tokenizers (their ids are valid for the full vocabularies); with
   ``--tiny``, the tiny offline pipeline on the CPU;
2. trains 2 steps through the real path: :meth:`CocoEditTrainer.from_config` on the preset
   (``model.dtype`` bf16 with bf16 autocast on CUDA, float32 adapters, gradient checkpointing, the
   region regularizers, its batch sizes, steps and resolution), with the judge replaced by the
   local programmatic reward of the presets' judge-free option
   (:class:`cocoedit.rewards.edit_change.EditRegionChange`) and one sampling batch per step
   (``prompts_per_epoch`` 1, ``group_size`` = the sampling batch: a step is one sampling batch and
   one training micro-batch, so seconds per sample carry over to any epoch size). Only the model
   loading is replaced: the in-memory editor is handed to ``from_config`` instead of weights read
   from disk (a configs-only model folder serves the checks before loading);
3. prints and writes as JSON (``--out``): seconds per step (step 2; step 1 warms up), samples per
   second, the transformer's achieved TFLOP/s and MFU against the GPU's dense bf16 peak, and peak
   GPU memory.

FLOPs are counted by a hook on the transformer's forward: per call ``B (2 P T + 4 L T^2 d)`` (P
transformer parameters, T image + text tokens of that call, L blocks, d attention width), times 4
for a call with gradient (forward, recomputed forward under gradient checkpointing, backward of two
forwards), times 1 without. Text encoders and the VAE are not counted (they run once per prompt,
and once per sample).

Budget: designed to finish in under 8 minutes on one H100 for the three backbones (estimate:
building about 30 s each, two steps of 10-20 s each; docs/performance.md#presets).

    python benchmarks/bench_trainer_gpu.py [--backbones kontext qwen-image-edit-plus] [--out results.json]
    python benchmarks/bench_trainer_gpu.py --tiny           # CPU, tiny models (tests/benchmarks)
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from bench_backbone import BF16_PEAK_TFLOPS  # noqa: E402
from full_size_editors import (  # noqa: E402
    full_size_flux2,
    full_size_flux2_klein,
    full_size_kontext,
    full_size_qwen,
    full_size_qwen_image_21,
)


@dataclass(frozen=True)
class Backbone:
    """One row of the benchmark: the backbone kind, the preset (shipped in the package) it trains with,
    the builder of its full-size editor from the tiny one, and the backbone options of a tiny run
    (Kontext's tiny T5 tokenizer is short; FLUX.2's 512-token padding and a 384² vision-language
    image would only make the CPU run slower)."""

    kind: str
    preset: str
    full_size: Callable
    tiny_options: dict = field(default_factory=dict)


SHORT_TEXT = {"max_sequence_length": 48}
CHANGE_REWARD = "cocoedit.rewards.edit_change.EditRegionChange"  # the judge-free option of the smoke presets
# Qwen-Image-Edit-2511 has no row: it is qwen-image-edit-plus with 2509's transformer, tokens and
# settings (its zero_cond_t adds one timestep embedding per call), so 2509's row is its cost too.
BACKBONES: dict[str, Backbone] = {
    "kontext": Backbone("kontext", "kontext_smoke.yaml", full_size_kontext, SHORT_TEXT),
    "qwen-image-edit": Backbone("qwen-image-edit", "qwen_image_edit_2509_smoke.yaml", full_size_qwen),
    "qwen-image-edit-plus": Backbone(
        "qwen-image-edit-plus", "qwen_image_edit_2509_smoke.yaml", full_size_qwen, {"condition_area": 56 * 56}
    ),
    "flux2-klein": Backbone("flux2-klein", "flux2_klein_smoke.yaml", full_size_flux2_klein, SHORT_TEXT),
    "flux2": Backbone("flux2", "flux2_dev_smoke.yaml", full_size_flux2, SHORT_TEXT),
    "qwen-image-2.1": Backbone("qwen-image-2.1", "qwen_image_2.1_smoke.yaml", full_size_qwen_image_21),
}


class FlopCounter:
    """Counts the transformer's matmul FLOPs per forward call (see the module doc)."""

    def __init__(self, transformer: torch.nn.Module, checkpointing: bool):
        self.params = sum(p.numel() for n, p in transformer.named_parameters() if "lora_" not in n)
        self.layers = sum(len(m) for m in transformer.children() if isinstance(m, torch.nn.ModuleList))
        self.dim = transformer.config.num_attention_heads * transformer.config.attention_head_dim
        self.grad_factor = 4 if checkpointing else 3
        self.flops = 0.0
        self.calls = {"no_grad": 0, "grad": 0}
        self._handle = transformer.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs) -> None:
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        text = kwargs.get("encoder_hidden_states")
        batch, tokens = hidden.shape[0], hidden.shape[1] + (text.shape[1] if text is not None else 0)
        slots = kwargs.get("img_mask")
        if slots is not None:  # Qwen-Image-2.1: the text's image slots hold the source latents of hidden_states
            tokens = hidden.shape[1] + int((~slots[0]).sum())
        forward = batch * (2.0 * self.params * tokens + 4.0 * self.layers * tokens * tokens * self.dim)
        grad = torch.is_grad_enabled()
        self.calls["grad" if grad else "no_grad"] += 1
        self.flops += forward * (self.grad_factor if grad else 1)

    def close(self) -> None:
        self._handle.remove()


def _write_model_folder(pipe, folder: Path) -> None:
    """``model_index.json`` and every component's config, no weights: what the checks before
    loading read (the model's kind, its VAE's downsampling)."""
    pipe.save_config(folder)
    for name, component in pipe.components.items():
        if hasattr(component, "save_config"):
            component.save_config(folder / name)
        elif hasattr(component, "config") and hasattr(component.config, "save_pretrained"):
            component.config.save_pretrained(folder / name)


@contextmanager
def handing_over(pipe) -> Iterator[None]:
    """``from_config`` gets ``pipe`` (moved to the requested device and dtype, as a load would
    give it) instead of reading weights from ``model.path``."""
    import cocoedit.models.registry as registry

    real = registry.load_backbone

    def load(model, kind=None, dtype=torch.float32, device=None, **options):
        pipe.to(dtype=dtype)
        if device is not None:
            pipe.to(device)
        for module in pipe.components.values():
            if isinstance(module, torch.nn.Module):
                module.eval()
        return registry.backbone_class(kind).from_pipeline(pipe, **options)

    registry.load_backbone = load
    try:
        yield
    finally:
        registry.load_backbone = real


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return out.stdout.strip() or None
    except OSError:
        return None


def bench_backbone(name: str, entry: Backbone, tiny: bool, work: Path) -> dict:
    from cocoedit.core.presets import PRESETS_FOLDER
    from cocoedit.rl.config import load_config
    from cocoedit.rl.trainer import CocoEditTrainer
    from cocoedit.testing.sample_data import make_sample_manifest
    from cocoedit.testing.tiny import build_tiny_pipeline

    cuda = not tiny
    device = "cuda" if cuda else "cpu"
    preset = load_config(PRESETS_FOLDER / entry.preset)
    size = 64 if tiny else preset.model.height
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    pipe = build_tiny_pipeline(entry.kind)
    if not tiny:
        pipe = entry.full_size(pipe, device, torch.bfloat16)
    pipe.set_progress_bar_config(disable=True)
    built_s = time.perf_counter() - start
    text_encoder_params = sum(
        p.numel() for n, m in pipe.components.items() if n.startswith("text_encoder") for p in m.parameters()
    )
    folder = work / name / "model"
    _write_model_folder(pipe, folder)
    manifest = make_sample_manifest(work / name / "data", samples=4, size=(size, size))
    batch = preset.sampling.batch_size
    components = [
        {"name": "change", "function": CHANGE_REWARD, "weight": c.weight} if c.target == "judge" else c.model_dump()
        for c in preset.reward.components
    ]
    overrides = [
        f"model.path={folder}",
        f"model.backbone={entry.kind}",
        f"data.manifest={manifest}",
        "data.validation_manifest=null",
        "sampling.prompts_per_epoch=1",
        f"sampling.group_size={max(2, batch)}",
        f"reward.components={json.dumps(components)}",
        "advantage.std_threshold=0.0",  # random weights: never drop a group for a small spread
        "train.epochs=2",
        "train.checkpoint_every=1000",
        "train.validate_every=1000",
        "train.sample_grid_every=1000",
        "train.report_to=[]",
        f"train.device={device}",
    ]
    if tiny:
        overrides += [f"model.height={size}", f"model.width={size}"]
        overrides += [f"model.backbone_options.{k}={v}" for k, v in entry.tiny_options.items()]
    config = load_config(PRESETS_FOLDER / entry.preset, overrides)
    steps: list[dict] = []
    with handing_over(pipe):
        trainer = CocoEditTrainer.from_config(config, work / name / "run")
    counter = FlopCounter(trainer.backbone.transformer, config.model.gradient_checkpointing)
    per_step: list[tuple[float, dict]] = []

    def progress(stats: dict) -> None:
        per_step.append((counter.flops, dict(counter.calls)))
        steps.append(stats)

    trainer.progress = progress
    trainer.train()
    counter.close()
    samples = config.sampling.prompts_per_epoch * config.sampling.group_size
    second = steps[-1]["time/epoch"]
    flops_second = per_step[-1][0] - per_step[-2][0]
    gpu = torch.cuda.get_device_name() if cuda else "cpu"
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in gpu), None)
    tflops = flops_second / second / 1e12
    result = {
        "backbone": name,
        "kind": entry.kind,
        "preset": entry.preset.removesuffix(".yaml"),
        "device": gpu,
        "bf16_peak_tflops": peak,
        "working_size": size,
        "samples_per_step": samples,
        "sampling_batch": config.sampling.batch_size,
        "train_micro_batch": config.optim.train_batch_size,
        "rollout_steps": config.sampling.steps,
        "trained_timesteps": trainer.step_settings.num_timesteps,
        "gradient_checkpointing": config.model.gradient_checkpointing,
        "transformer_params": counter.params,
        "text_encoder_params": text_encoder_params,
        "build_s": round(built_s, 2),
        "first_step_s": round(steps[0]["time/epoch"], 3),
        "s_per_step": round(second, 3),
        "samples_per_s": round(samples / second, 4),
        "transformer_calls_per_step": {k: per_step[-1][1][k] - per_step[-2][1][k] for k in ("no_grad", "grad")},
        "transformer_tflop_per_step": float(f"{flops_second / 1e12:.4g}"),
        "achieved_tflops": float(f"{tflops:.4g}"),
        "mfu": round(tflops / peak, 4) if peak else None,
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    }
    del trainer, pipe
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", choices=list(BACKBONES), default=list(BACKBONES))
    parser.add_argument("--tiny", action="store_true", help="tiny models on the CPU (a check that it runs)")
    parser.add_argument("--out", type=Path, default=Path("bench_trainer_gpu.json"), help="JSON results")
    args = parser.parse_args()
    if not args.tiny and not torch.cuda.is_available():
        parser.error("a CUDA GPU is needed (or --tiny)")
    if args.tiny:
        torch.set_num_threads(min(torch.get_num_threads(), 2))
    import diffusers

    start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.backbones:
            r = bench_backbone(name, BACKBONES[name], args.tiny, Path(tmp))
            results.append(r)
            mfu = f"{100 * r['mfu']:.1f} %" if r["mfu"] is not None else "n/a"
            memory = f"{r['peak_memory_gib']:.1f} GiB" if r["peak_memory_gib"] is not None else "n/a"
            print(
                f"{name:22s} {r['s_per_step']:8.2f} s/step ({r['samples_per_step']} samples; first step "
                f"{r['first_step_s']:.1f} s)  {r['samples_per_s']:.3f} samples/s  {r['achieved_tflops']:.1f} "
                f"TFLOP/s  MFU {mfu}  peak {memory}  (built in {r['build_s']:.0f} s)",
                flush=True,
            )
    report = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "commit": _commit(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "tiny": args.tiny,
        "total_s": round(time.perf_counter() - start, 1),
        "results": results,
    }
    args.out.write_text(json.dumps(report, indent=1))
    print(f"{len(results)} backbones in {report['total_s']:.0f} s; results: {args.out}")


if __name__ == "__main__":
    main()
