"""Trainer speed: seconds per epoch by phase, and (on a GPU) throughput, memory and TFLOP/s.

CPU (default): a few epochs of the real :class:`CocoEditTrainer` on the tiny Kontext model with the
pixel reward; prints seconds per phase (sampling, waiting for rewards, training) and, as the
baseline measured in the same run, the stock ``FluxKontextPipeline`` generating the same number of
images with the same steps: the sampling phase should cost about that (ratio ~1).

``--full-size-random`` (GPU): the FLUX.1 Kontext-dev transformer at its real size with random bf16
weights (no download) and the trainer's two LoRA adapters (rank 32). It runs the trainer's
per-micro-batch work with the real ops (:mod:`cocoedit.rl`): a rollout of ``--steps`` steps with
the old adapter, then for each trained timestep the old and reference predictions (no grad) and
the current one with gradient checkpointing, NFT + region + KL losses, backward, AdamW. Prints
samples/s, peak memory and achieved TFLOP/s of the transformer passes against the bf16 peak.
Targets (issue #5): 512^2 with the reference micro-batch 3 in <= 40 GB; >= 50 % of the bf16 peak.

    python benchmarks/bench_train.py [--epochs 3]
    python benchmarks/bench_train.py --full-size-random [--size 512 --batch 3 --steps 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def bench_cpu(epochs: int) -> None:
    from cocoedit.data.manifest import read_manifest
    from cocoedit.models.registry import wrap_pipeline
    from cocoedit.rewards.pixel import PixelReward
    from cocoedit.rl.config import load_config
    from cocoedit.rl.logging import read_metrics
    from cocoedit.rl.trainer import CocoEditTrainer
    from cocoedit.testing.sample_data import make_sample_manifest
    from cocoedit.testing.tiny import build_tiny_pipeline
    from cocoedit.testing.trainer import tiny_training_config

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        samples = read_manifest(make_sample_manifest(tmp / "ds", samples=8, size=(64, 64)))
        cfg = load_config(
            None,
            [],
            base=tiny_training_config(
                model={"gradient_checkpointing": False},
                sampling={"prompts_per_epoch": 2, "group_size": 4, "batch_size": 4, "steps": 4},
                optim={"train_batch_size": 4},
                train={"epochs": epochs, "checkpoint_every": 1000, "validate_every": 1000, "sample_grid_every": 1000},
            ),
        )
        pipe = build_tiny_pipeline("kontext")
        pipe.set_progress_bar_config(disable=True)
        trainer = CocoEditTrainer(
            cfg, tmp / "run", wrap_pipeline(pipe, max_sequence_length=48), samples, {"pixel": PixelReward(40, 0.5, 0.5)}
        )
        trainer.train()
        rows = read_metrics(tmp / "run")[1:]  # the first epoch warms up (imports, caches)
        phases = {
            k: statistics.median(r[k] for r in rows)
            for k in ("time/sampling", "time/waiting_for_rewards", "time/training", "time/epoch")
        }
        # Baseline: the stock pipeline making the same 8 images of an epoch, 4 at a time.
        stock = build_tiny_pipeline("kontext")
        stock.set_progress_bar_config(disable=True)
        image = trainer.rollouts.row(0).source

        def stock_epoch():
            for _ in range(2):
                stock(
                    image=image[None],
                    prompt=[samples[0].instruction] * 4,
                    height=64,
                    width=64,
                    max_area=64 * 64,
                    _auto_resize=False,
                    num_inference_steps=4,
                    guidance_scale=2.5,
                    max_sequence_length=48,
                    output_type="pt",
                )

        stock_epoch()
        start = time.perf_counter()
        stock_epoch()
        baseline = time.perf_counter() - start
    print(f"tiny Kontext 64x64, 2 prompts x 4 samples, 4 steps; median over {len(rows)} epochs after warm-up")
    for k, v in phases.items():
        print(f"  {k:28s} {v:7.3f} s")
    ratio = phases["time/sampling"] / baseline
    print(f"  stock pipeline, same images   {baseline:7.3f} s  (sampling / stock = {ratio:.2f})")


def bench_full_size(
    size: int,
    batch: int,
    steps: int,
    train_steps: int,
    repeats: int,
    config: dict | None = None,
    device: str = "cuda",
    checkpointing: bool = True,
) -> None:
    """``config``/``device`` exist so the same code can be smoke-tested small on a CPU."""
    import sys

    from diffusers import FluxTransformer2DModel
    from peft import LoraConfig

    from cocoedit.models.backbone import DEFAULT_LORA_TARGETS
    from cocoedit.models.condition import unpack_latents
    from cocoedit.models.flow import noisy
    from cocoedit.models.samplers import dpm_solver_2m_sample
    from cocoedit.rl.advantages import Credit
    from cocoedit.rl.config import RegularizerConfig
    from cocoedit.rl.nft_loss import kl_to_reference, nft_policy_loss
    from cocoedit.rl.regularizers import region_regularizers

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_backbone import BF16_PEAK_TFLOPS, KONTEXT_DEV, _flops_forward

    arch = config or KONTEXT_DEV
    dev, dt = torch.device(device), torch.bfloat16
    cuda = dev.type == "cuda"
    name = torch.cuda.get_device_name() if cuda else "cpu"
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
    torch.backends.cuda.matmul.allow_tf32 = True
    latent = size // 8
    n_img, text_len = (latent // 2) ** 2, 128
    with torch.device(dev):
        model = FluxTransformer2DModel(**arch).to(dt).eval()
    model.requires_grad_(False)
    params = sum(p.numel() for p in model.parameters())
    lora = LoraConfig(r=32, lora_alpha=64, init_lora_weights="gaussian", target_modules=list(DEFAULT_LORA_TARGETS))
    model.add_adapter(lora, adapter_name="default")
    model.add_adapter(lora, adapter_name="old")
    current = [p for n, p in model.named_parameters() if "lora_" in n and ".default." in n]
    if checkpointing:
        model.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(current, lr=3e-4, weight_decay=1e-4)
    text = torch.randn(batch, text_len, arch["joint_attention_dim"], device=dev, dtype=dt)
    pooled = torch.randn(batch, arch["pooled_projection_dim"], device=dev, dtype=dt)
    source = torch.randn(batch, n_img, 64, device=dev, dtype=dt)
    img_ids = torch.zeros(2 * n_img, 3, device=dev, dtype=dt)
    img_ids[n_img:, 0] = 1
    txt_ids = torch.zeros(text_len, 3, device=dev, dtype=dt)
    guidance = torch.full((batch,), 2.5, device=dev)
    sigmas = torch.linspace(1, 1 / steps, steps).tolist() + [0.0]
    edit_mask = torch.zeros(batch, 1, latent, latent, device=dev)
    edit_mask[..., latent // 4 : 3 * latent // 4, latent // 4 : 3 * latent // 4] = 1

    def velocity(x, sigma):
        t = torch.as_tensor(sigma, device=dev, dtype=dt).expand(batch) if not torch.is_tensor(sigma) else sigma.to(dt)
        out = model(
            hidden_states=torch.cat([x, source], 1),
            encoder_hidden_states=text,
            pooled_projections=pooled,
            timestep=t,
            guidance=guidance,
            txt_ids=txt_ids,
            img_ids=img_ids,
            return_dict=False,
        )[0]
        return out[:, :n_img]

    def use(adapter):
        model.set_adapter(adapter)
        for p in current:
            p.requires_grad_(True)

    def micro_batch():
        use("old")
        with torch.no_grad():
            x0 = dpm_solver_2m_sample(velocity, torch.randn(batch, n_img, 64, device=dev, dtype=dt), sigmas).sample
        r = torch.rand(batch, device=dev)
        valid = torch.ones(batch, dtype=torch.bool, device=dev)
        for j in range(train_steps):
            t = torch.full((batch,), sigmas[j], device=dev)
            x_t = noisy(x0, torch.randn_like(x0), t).to(dt)
            use("old")
            with torch.no_grad():
                v_old = velocity(x_t, t)
                model.disable_adapters()
                v_ref = velocity(x_t, t)
                model.enable_adapters()
            use("default")
            v = velocity(x_t, t)
            policy = nft_policy_loss(r, v.float(), v_old.float(), x_t.float(), x0.float(), t, valid)
            grid = lambda z: unpack_latents(z, (latent, latent))  # noqa: E731
            reg = region_regularizers(
                x0_positive=grid(policy.x0_positive),
                x0_negative=grid(policy.x0_negative),
                x0_sample=grid(x0.float()),
                x_source=grid(source.float()),
                edit_mask=edit_mask,
                credit=Credit.single(r, valid),
                settings=RegularizerConfig(lambda_ner=0.02, lambda_er=0.02),
            )
            (policy.loss + reg.loss + kl_to_reference(v, v_ref, valid)).div(train_steps).backward()
        torch.nn.utils.clip_grad_norm_(current, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    micro_batch()  # warm-up
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        micro_batch()
        sync()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    tokens = 2 * n_img + text_len
    fwd = _flops_forward(
        params,
        tokens,
        arch["num_layers"] + arch["num_single_layers"],
        arch["num_attention_heads"] * arch["attention_head_dim"],
        batch,
    )
    # Rollout: `steps` forwards. Training per timestep: old + ref + current forward, the forward
    # recomputed by checkpointing (if on) and a backward of twice a forward.
    total_flops = fwd * (steps + (6 if checkpointing else 5) * train_steps)
    tflops = total_flops / seconds / 1e12
    gib = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    result = {
        "gpu": name,
        "size": size,
        "micro_batch": batch,
        "rollout_steps": steps,
        "trained_timesteps": train_steps,
        "gradient_checkpointing": checkpointing,
        "seconds_per_micro_batch": round(seconds, 3),
        "samples_per_s": round(batch / seconds, 3),
        "peak_memory_gib": round(gib, 1),
        "achieved_tflops": round(tflops, 1),
        "percent_of_bf16_peak": round(100 * tflops / peak, 1) if peak else None,
    }
    print(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full-size-random", action="store_true")
    parser.add_argument("--epochs", type=int, default=4, help="CPU: epochs of the tiny run")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=3, help="GPU: micro-batch (reference: 3)")
    parser.add_argument("--steps", type=int, default=10, help="GPU: rollout steps")
    parser.add_argument("--train-steps", type=int, default=9, help="GPU: trained timesteps per sample")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--cudnn-attention",
        action="store_true",
        help="allow PyTorch's cuDNN attention backend (its backward crashed on torch 2.11 + cu130, see "
        "docs/performance.md)",
    )
    parser.add_argument("--no-grad-checkpointing", action="store_true", help="GPU: keep activations instead")
    args = parser.parse_args()
    if not args.cudnn_attention:
        torch.backends.cuda.enable_cudnn_sdp(False)
    if args.full_size_random:
        if not torch.cuda.is_available():
            parser.error("--full-size-random needs a CUDA GPU")
        bench_full_size(
            args.size,
            args.batch,
            args.steps,
            args.train_steps,
            args.repeats,
            checkpointing=not args.no_grad_checkpointing,
        )
    else:
        bench_cpu(args.epochs)


if __name__ == "__main__":
    main()
