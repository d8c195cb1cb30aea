"""Backbone speed: sampling time per image and one LoRA training step, per backbone.

CPU (default): the tiny offline models. Sampling through our interface is printed as a ratio to
the stock diffusers pipeline's own ``__call__`` measured in the same run (target: about 1.0, i.e.
the interface adds no overhead); the LoRA step (forward + backward + AdamW) as a ratio to one
forward pass of the same batch.

``--full-size-random`` (GPU): the real transformer architectures (FLUX.1 Kontext-dev, Qwen-Image
/ -Edit-2509; configs of the public checkpoints written below) with random bf16 weights, no
download, fed random text embeddings; prints tokens/s of a velocity forward, the LoRA step time,
peak memory, and achieved TFLOP/s against the GPU's dense bf16 peak.

    python benchmarks/bench_backbone.py [--size 64] [--steps 4] [--repeats 3]
    python benchmarks/bench_backbone.py --full-size-random --size 512
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

# Public checkpoint configs (transformer only).
KONTEXT_DEV = dict(
    patch_size=1,
    in_channels=64,
    num_layers=19,
    num_single_layers=38,
    attention_head_dim=128,
    num_attention_heads=24,
    joint_attention_dim=4096,
    pooled_projection_dim=768,
    guidance_embeds=True,
    axes_dims_rope=[16, 56, 56],
)
QWEN_IMAGE = dict(
    patch_size=2,
    in_channels=64,
    out_channels=16,
    num_layers=60,
    attention_head_dim=128,
    num_attention_heads=24,
    joint_attention_dim=3584,
    guidance_embeds=False,
    axes_dims_rope=(16, 56, 56),
)
BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def timed(fn, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lora_step_fn(bb, condition, batch: int, height: int, width: int):
    from cocoedit.models.lora import add_lora

    params = add_lora(bb, "bench", rank=32, alpha=64)
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    x0 = bb.initial_noise(batch, height, width, torch.Generator(bb.device).manual_seed(1))
    noise = torch.randn_like(x0)

    def step():
        sigma = 0.6
        xt = (1 - sigma) * x0 + sigma * noise
        loss = (bb.predict_velocity(xt, sigma, condition).float() - (noise - x0).float()).pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def bench_tiny(size: int, steps: int, repeats: int, batch: int) -> None:
    import diffusers.pipelines.qwenimage.pipeline_qwenimage_edit as edit_mod
    import diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus as plus_mod
    import numpy as np
    from PIL import Image
    from skimage import data

    from cocoedit.models.generate import edit_images
    from cocoedit.models.registry import wrap_pipeline
    from cocoedit.testing.tiny import BACKBONE_KINDS, build_tiny_pipeline

    # The stock Qwen pipelines hard-code ~1024² conditioning; match our working size for a fair baseline.
    plus_mod.VAE_IMAGE_SIZE = size * size
    plus_mod.CONDITION_IMAGE_SIZE = 56 * 56
    original = edit_mod.calculate_dimensions
    edit_mod.calculate_dimensions = lambda area, ratio: original(size * size, ratio)

    image = Image.fromarray(np.asarray(data.astronaut())).resize((size, size), Image.BICUBIC)
    print(f"tiny models, {size}x{size}, {steps} steps, {torch.get_num_threads()} threads, median of {repeats}")
    print(
        f"{'backbone':24s} {'ours s/img':>11s} {'stock s/img':>12s} {'ratio':>6s} {'LoRA step s':>12s} {'step/fwd':>9s}"
    )
    for kind in BACKBONE_KINDS:
        pipe = build_tiny_pipeline(kind)
        pipe.set_progress_bar_config(disable=True)
        bb = wrap_pipeline(pipe, condition_area=56 * 56) if kind == "qwen-image-edit-plus" else wrap_pipeline(pipe)
        guidance = bb.default_guidance
        extra = (
            dict(max_area=size * size, _auto_resize=False, guidance_scale=guidance)
            if kind == "kontext"
            else dict(true_cfg_scale=guidance)
        )

        def ours():
            edit_images(
                bb,
                "make the sky blue",
                image,
                size,
                size,
                steps,
                guidance=guidance,
                generator=torch.Generator().manual_seed(0),
            )

        def stock():
            pipe(
                image=image,
                prompt="make the sky blue",
                num_inference_steps=steps,
                height=size,
                width=size,
                output_type="pt",
                generator=torch.Generator().manual_seed(0),
                **extra,
            )

        t_ours, t_stock = timed(ours, repeats), timed(stock, repeats)
        cond = bb.encode_condition(["make the sky blue"] * batch, [image] * batch, size, size)
        x = bb.initial_noise(batch, size, size)

        def forward():
            with torch.no_grad():
                bb.predict_velocity(x, 0.5, cond)

        t_fwd = timed(forward, repeats)
        t_step = timed(lora_step_fn(bb, cond, batch, size, size), repeats)
        print(f"{kind:24s} {t_ours:11.4f} {t_stock:12.4f} {t_ours / t_stock:6.2f} {t_step:12.4f} {t_step / t_fwd:9.2f}")


def _flops_forward(params: int, tokens: int, layers: int, dim: int, batch: int) -> float:
    """Matmul FLOPs of one transformer forward: 2·params·tokens + attention 4·layers·tokens²·dim."""
    return batch * (2.0 * params * tokens + 4.0 * layers * tokens * tokens * dim)


def _bench_one_full_size(label, cls, cfg, text_len, batch, n_img, latent, repeats, checkpointing, peak) -> None:
    from diffusers import FluxTransformer2DModel

    dev, dt = torch.device("cuda"), torch.bfloat16
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    with torch.device(dev):
        model = cls(**cfg).to(dt).eval()
    model.requires_grad_(False)
    params = sum(p.numel() for p in model.parameters())
    hidden = torch.randn(batch, 2 * n_img, cfg["in_channels"], device=dev, dtype=dt)
    text = torch.randn(batch, text_len, cfg["joint_attention_dim"], device=dev, dtype=dt)
    t = torch.full((batch,), 0.5, device=dev, dtype=dt)
    if cls is FluxTransformer2DModel:
        ids = torch.zeros(2 * n_img, 3, device=dev, dtype=dt)
        kwargs = dict(
            hidden_states=hidden,
            encoder_hidden_states=text,
            timestep=t,
            pooled_projections=torch.randn(batch, 768, device=dev, dtype=dt),
            guidance=torch.full((batch,), 2.5, device=dev),
            txt_ids=torch.zeros(text_len, 3, device=dev, dtype=dt),
            img_ids=ids,
            return_dict=False,
        )
        layers = cfg["num_layers"] + cfg["num_single_layers"]
    else:
        g = latent // 2
        kwargs = dict(
            hidden_states=hidden,
            encoder_hidden_states=text,
            timestep=t,
            img_shapes=[[(1, g, g), (1, g, g)]] * batch,
            return_dict=False,
        )
        layers = cfg["num_layers"]
    dim = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    tokens = 2 * n_img + text_len

    def forward():
        with torch.no_grad():
            model(**kwargs)

    t_fwd = timed(forward, repeats)
    from peft import LoraConfig

    from cocoedit.models.backbone import DEFAULT_LORA_TARGETS

    model.add_adapter(
        LoraConfig(r=32, lora_alpha=64, init_lora_weights="gaussian", target_modules=list(DEFAULT_LORA_TARGETS)),
        adapter_name="bench",
    )
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    for p in lora:
        p.requires_grad_(True)
    if checkpointing:
        model.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(lora, lr=1e-4)

    def step():
        out = model(**kwargs)[0]
        out.float().pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    t_step = timed(step, repeats)
    flops = _flops_forward(params, tokens, layers, dim, batch)
    # Training: forward (+ the forward recomputed by checkpointing) + backward (≈ 2 forwards).
    tf_fwd, tf_step = flops / t_fwd / 1e12, (4 if checkpointing else 3) * flops / t_step / 1e12
    gib = torch.cuda.max_memory_allocated() / 2**30
    frac = f"{100 * tf_fwd / peak:8.1f}%" if peak else "     n/a"
    print(
        f"{label:22s} {params / 1e9:6.2f}B {t_fwd:7.3f} {batch * tokens / t_fwd:10.0f} {tf_fwd:8.1f} "
        f"{t_step:12.3f} {tf_step:8.1f} {gib:9.1f} {frac:>9s}"
    )


def bench_full_size(size: int, repeats: int, batch: int, checkpointing: bool = True) -> None:
    from diffusers import FluxTransformer2DModel, QwenImageTransformer2DModel

    assert torch.cuda.is_available(), "--full-size-random needs a CUDA GPU"
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
    latent = size // 8  # both real VAEs compress 8x
    n_img = (latent // 2) ** 2
    print(
        f"{name}: full-size random transformers, bf16, {size}x{size} ({n_img} target + {n_img} source tokens), "
        f"batch {batch}"
    )
    print(
        f"{'model':22s} {'params':>7s} {'fwd s':>7s} {'tokens/s':>10s} {'TFLOP/s':>8s} {'LoRA step s':>12s} "
        f"{'TFLOP/s':>8s} {'peak GiB':>9s} {'% of peak':>9s}"
    )
    for label, cls, cfg, text_len in (
        ("flux1-kontext-dev", FluxTransformer2DModel, KONTEXT_DEV, 512),
        ("qwen-image-edit-2509", QwenImageTransformer2DModel, QWEN_IMAGE, 256),
    ):
        # One function call per model: its tensors are freed before the next model is built.
        _bench_one_full_size(label, cls, cfg, text_len, batch, n_img, latent, repeats, checkpointing, peak)
    print(f"bf16 dense peak used: {peak} TFLOP/s" if peak else "unknown GPU: no peak figure")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full-size-random", action="store_true")
    parser.add_argument("--size", type=int, default=None, help="working size (default 64 tiny, 512 full)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=None, help="LoRA step batch (default 4 tiny, 1 full)")
    parser.add_argument(
        "--cudnn-attention",
        action="store_true",
        help="allow PyTorch's cuDNN attention backend (its backward crashed on torch 2.11 + cu130, see "
        "docs/performance.md)",
    )
    parser.add_argument("--no-grad-checkpointing", action="store_true", help="full size: keep activations instead")
    args = parser.parse_args()
    if not args.cudnn_attention:
        torch.backends.cuda.enable_cudnn_sdp(False)
    if args.full_size_random:
        bench_full_size(args.size or 512, args.repeats, args.batch or 1, not args.no_grad_checkpointing)
    else:
        bench_tiny(args.size or 64, args.steps, args.repeats, args.batch or 4)


if __name__ == "__main__":
    main()
