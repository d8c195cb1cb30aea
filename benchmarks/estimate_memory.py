"""Estimated peak GPU memory of a LoRA training run at each preset, from parameter counts.

An estimate, not a measurement (no weights are loaded; transformers are built on the ``meta``
device). Per GPU, one process (``ddp``) or ``--shards N`` processes (``fsdp2`` shards the
transformer and its adapters, not the text encoder):

* transformer weights in bf16: its parameter count (from its real config) x 2 bytes;
* text encoder in bf16: the published parameter count x 2 bytes (it stays on the GPU: conditions
  are encoded once per prompt and cached, but the encoder is not moved off the device), or nothing
  where the preset keeps it on the CPU (FLUX.2's ``backbone_options.text_encoder_on_cpu``; it then
  takes as much host memory per process);
* the VAE in float32 (< 1 GB; 0.5 GB counted);
* the two LoRA adapters (current, old) in float32 with the current one's gradient and AdamW moments:
  20 bytes per adapter parameter;
* activations of one micro-batch under gradient checkpointing: ``c x tokens x hidden x blocks x
  micro_batch`` bytes, doubled when the preset trains with true CFG, plus a fixed ``d``. ``c`` and
  ``d`` come from the one measured trainer run (``bench_train.py --full-size-random``, FLUX.1
  Kontext, 512², H100: 25.8 GiB at micro-batch 3, 28.8 GiB at 6; docs/performance.md). The script
  prints its estimate of those two runs, which it reproduces by construction: no backbone added
  since has a measurement to check the model against.

    python benchmarks/estimate_memory.py [--shards 8]
"""

from __future__ import annotations

import argparse

import torch
import yaml

from cocoedit.core.presets import PRESETS_FOLDER

GIB = 1024**3

# Published parameter counts of the text encoders (bf16 on the GPU).
TEXT_ENCODERS = {
    "kontext": ("T5-XXL encoder + CLIP-L", 4.76e9),
    "qwen-image-edit-plus": ("Qwen2.5-VL-7B", 8.29e9),
    "flux2-klein": ("Qwen3-4B", 4.02e9),
    "flux2": ("Mistral Small 3.1 24B", 24.0e9),
    "qwen-image-2.1": ("Qwen3-VL-8B", 8.77e9),
}
VAE_BYTES = 0.5e9

# The calibration run: FLUX.1 Kontext, 512², 128 text tokens, micro-batch 3 and 6 (GiB).
MEASURED = {3: 25.8, 6: 28.8}


def transformer(kind: str) -> torch.nn.Module:
    """The real transformer architecture on the meta device (no memory, no weights)."""
    import diffusers as d

    with torch.device("meta"):
        if kind == "kontext":
            return d.FluxTransformer2DModel(in_channels=64, num_layers=19, num_single_layers=38, guidance_embeds=True)
        if kind == "qwen-image-edit-plus":
            return d.QwenImageTransformer2DModel(num_layers=60, in_channels=64, out_channels=16)
        if kind == "flux2-klein":  # FLUX.2 [klein] 4B: 5 double + 20 single blocks, 24 heads, Qwen3-4B (3 x 2560)
            return d.Flux2Transformer2DModel(
                in_channels=128,
                num_layers=5,
                num_single_layers=20,
                num_attention_heads=24,
                joint_attention_dim=7680,
                guidance_embeds=False,
            )
        if kind == "flux2":  # diffusers' defaults are FLUX.2 [dev]'s
            return d.Flux2Transformer2DModel()
        if kind == "qwen-image-2.1":  # diffusers' defaults: 32 single-stream layers, 7.1 B
            return d.QwenImage21Transformer2DModel()
    raise ValueError(kind)


def blocks_and_hidden(model: torch.nn.Module) -> tuple[int, int]:
    blocks = sum(len(getattr(model, name, [])) for name in ("transformer_blocks", "single_transformer_blocks"))
    return blocks, model.config.num_attention_heads * model.config.attention_head_dim


def lora_parameters(model: torch.nn.Module, targets: tuple[str, ...], rank: int) -> int:
    return sum(
        rank * (m.in_features + m.out_features)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and any(name.endswith("." + t) for t in targets)
    )


def image_tokens(kind: str, height: int, width: int) -> int:
    """Target tokens at a working size (FLUX: 16 px per packed token; Qwen-Image-2.1: 16 px per latent)."""
    return (height // 16) * (width // 16)


def text_tokens(kind: str, preset: dict) -> int:
    """Text tokens the transformer attends to: the padded length for FLUX; for the Qwen editors the
    instruction after the dropped template prefix (~30) plus, for 2509/2511, the 384² VL image
    (~190 tokens of 28² pixels)."""
    options = preset["model"].get("backbone_options") or {}
    if kind in ("kontext", "flux2-klein", "flux2"):
        return int(options.get("max_sequence_length", 512))
    return 30 + (190 if kind == "qwen-image-edit-plus" else 0)


def true_cfg_in_training(kind: str, preset: dict) -> bool:
    guidance = preset["model"].get("guidance") or 1.0
    return kind in ("flux2-klein", "qwen-image-2.1", "qwen-image-edit-plus") and guidance > 1


def text_encoder_on_cpu(preset: dict) -> bool:
    return bool((preset["model"].get("backbone_options") or {}).get("text_encoder_on_cpu", False))


def activation_constants() -> tuple[float, float]:
    """``(c, d)``: bytes per (token x hidden x block x sample) and fixed bytes, from the measured
    Kontext run after its weights and adapters are subtracted."""
    model = transformer("kontext")
    blocks, hidden = blocks_and_hidden(model)
    from cocoedit.models.backbone import DEFAULT_LORA_TARGETS

    weights = sum(p.numel() for p in model.parameters()) * 2 + 20 * lora_parameters(model, DEFAULT_LORA_TARGETS, 32)
    tokens = 2 * image_tokens("kontext", 512, 512) + 128
    (b1, m1), (b2, m2) = sorted(MEASURED.items())
    per_sample = (m2 - m1) * GIB / (b2 - b1)
    fixed = m1 * GIB - weights - b1 * per_sample
    return per_sample / (tokens * hidden * blocks), fixed


def estimate(kind: str, preset: dict, shards: int, c: float, d: float) -> dict:
    from cocoedit.models.registry import backbone_class

    model = transformer(kind)
    m = preset["model"]
    blocks, hidden = blocks_and_hidden(model)
    targets = tuple(m.get("lora_targets") or backbone_class(kind).default_lora_targets)
    params = sum(p.numel() for p in model.parameters())
    lora = lora_parameters(model, targets, int(m.get("lora_rank", 32)))
    tokens = 2 * image_tokens(kind, m["height"], m["width"]) + text_tokens(kind, preset)
    micro = int(preset["optim"]["train_batch_size"]) * (2 if true_cfg_in_training(kind, preset) else 1)
    parts = {
        "transformer": params * 2 / shards,
        "text encoder": 0.0 if text_encoder_on_cpu(preset) else TEXT_ENCODERS[kind][1] * 2,
        "VAE": VAE_BYTES,
        "adapters": 20 * lora / shards,
        "activations": c * tokens * hidden * blocks * micro + d,
    }
    return {"params": params, "lora": lora, "tokens": tokens, "parts": parts, "total": sum(parts.values())}


PRESETS = {
    "kontext.yaml": "kontext",
    "qwen_image_edit_2509.yaml": "qwen-image-edit-plus",
    "qwen_image_edit_2511.yaml": "qwen-image-edit-plus",
    "flux2_klein.yaml": "flux2-klein",
    "flux2_dev.yaml": "flux2",
    "qwen_image_2.1.yaml": "qwen-image-2.1",
    "kontext_smoke.yaml": "kontext",
    "qwen_image_edit_2509_smoke.yaml": "qwen-image-edit-plus",
    "qwen_image_edit_2511_smoke.yaml": "qwen-image-edit-plus",
    "flux2_klein_smoke.yaml": "flux2-klein",
    "flux2_dev_smoke.yaml": "flux2",
    "qwen_image_2.1_smoke.yaml": "qwen-image-2.1",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", type=int, default=1, help="fsdp2 processes sharing the transformer")
    args = parser.parse_args()
    c, d = activation_constants()
    print(f"activation model: {c:.2f} bytes per token x hidden x block x sample, plus {d / GIB:.2f} GiB")
    kontext = yaml.safe_load((PRESETS_FOLDER / "kontext.yaml").read_text())
    for batch, measured in MEASURED.items():
        kontext["optim"]["train_batch_size"] = batch
        kontext["model"]["backbone_options"] = {"max_sequence_length": 128}
        e = estimate("kontext", kontext, 1, c, d)
        text = TEXT_ENCODERS["kontext"][1] * 2 + VAE_BYTES
        print(
            f"calibration, Kontext 512² micro-batch {batch}: transformer passes estimated "
            f"{(e['total'] - text) / GIB:.1f} GiB, measured {measured} GiB"
        )
    print(f"\nper GPU, {args.shards} process(es) sharing the transformer (GiB)")
    print(
        "preset | transformer params | LoRA params | tokens | transformer | text encoder | adapters | activations"
        " | total"
    )
    for name, kind in PRESETS.items():
        preset = yaml.safe_load((PRESETS_FOLDER / name).read_text())
        e = estimate(kind, preset, args.shards, c, d)
        p = {k: v / GIB for k, v in e["parts"].items()}
        print(
            f"{name} | {e['params'] / 1e9:.2f} B | {e['lora'] / 1e6:.1f} M | {e['tokens']} | {p['transformer']:.1f} | "
            f"{p['text encoder']:.1f} ({TEXT_ENCODERS[kind][0]}{', on the CPU' if text_encoder_on_cpu(preset) else ''})"
            f" | {p['adapters']:.2f} | {p['activations']:.1f} | "
            f"{e['total'] / GIB:.1f}"
        )


if __name__ == "__main__":
    main()
