"""How informative are a base editor's groups? The numbers behind docs/training.md#the-learning-signal.

For a demo base editor (a folder written by ``cocoedit demo`` or ``cocoedit sft``) and the demo's
task, it samples ``--groups`` training rows ``--group-size`` times each, the way the trainer's
rollouts do, under each exploration setting (sampler; independent or localized initial noise) and
prints per setting: the within-group std of the edit judge's score (median), the share of groups
above each std threshold, the mean pairwise RMS distance of a group's samples on the edit and
the keep region, and the mean within-group correlation between the judge's score and the keep
region's PSNR (negative: the samples that edit more also drift more, so an edit reward and a keep
reward pull a group's ranking apart). No training: it measures the signal the first RL step would
get.

    python benchmarks/signal_diversity.py --model ~/.cache/cocoedit/demo/base-<key> --data runs/demo/data
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

THRESHOLDS = (0.01, 0.02, 0.05)


def measure(backbone, rows, size, steps, sampler, noise, scale, group_size, seed=0):
    from cocoedit.core.masks import latent_grid_mask
    from cocoedit.core.metrics import keep_region_metrics
    from cocoedit.models.samplers import sample
    from cocoedit.rewards.edit_judge import edit_success
    from cocoedit.rl.diagnostics import group_pair_distances
    from cocoedit.rl.exploration import INITIAL_NOISE

    sigmas = backbone.sigma_schedule(steps, size, size)
    stds, spreads, correlations = [], [], []
    with torch.no_grad():
        for k, row in enumerate(rows):
            g = group_size
            cond = backbone.encode_condition([row.sample.instruction] * g, torch.stack([row.source] * g), size, size)
            gens = [torch.Generator().manual_seed(seed * 1_000_003 + k * 1000 + j) for j in range(g)]
            own = backbone.initial_noise(g, size, size, gens)
            shared = backbone.initial_noise(1, size, size, torch.Generator().manual_seed(seed + 7 * k)).expand_as(own)
            grid = latent_grid_mask(row.edit_mask[None], backbone.latent_grid(size, size))
            edit = backbone.pack(grid.expand(-1, backbone.latent_channels, -1, -1))
            x = INITIAL_NOISE[noise](own, shared, edit, scale=scale)
            out = sample(sampler, lambda z, s: backbone.predict_velocity(z, s, cond), x, sigmas, generator=gens)
            images = backbone.decode(out.sample, size, size).float()
            scores = edit_success(
                images, torch.stack([row.source] * g), torch.stack([row.target] * g), torch.stack([row.edit_mask] * g)
            ).scores
            stds.append(float(scores.std(unbiased=False)))
            psnr = keep_region_metrics(images, torch.stack([row.source] * g), torch.stack([row.edit_mask] * g)).psnr
            if scores.std() > 0 and psnr.std() > 0:
                correlations.append(float(torch.corrcoef(torch.stack([scores.float(), psnr.float()]))[0, 1]))
            spreads.append(group_pair_distances(images, torch.stack([row.edit_mask] * g), torch.zeros(g).long())[0])
    return {
        "std_p50": statistics.median(stds),
        **{f"above_{t:g}": sum(s > t for s in stds) / len(stds) for t in THRESHOLDS},
        "spread_edit": statistics.fmean(s[0] for s in spreads),
        "spread_keep": statistics.fmean(s[1] for s in spreads),
        "correlation": statistics.fmean(correlations) if correlations else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="the demo's data folder (train/manifest.jsonl)")
    parser.add_argument("--groups", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from cocoedit.data.manifest import read_manifest
    from cocoedit.data.rows import prepare_row
    from cocoedit.models.registry import load_backbone

    backbone = load_backbone(args.model, "pixel-kontext", dtype=torch.float32, device="cpu")
    backbone.pipeline.set_progress_bar_config(disable=True)
    samples = read_manifest(args.data / "train" / "manifest.jsonl")[: args.groups]
    rows = [prepare_row(s, args.size, args.size) for s in samples]
    settings = [
        ("dpm2, independent, group 8", "dpm2", "independent", 1.0, 8),
        ("dpm2, independent, group 4", "dpm2", "independent", 1.0, 4),
        ("dpm2, independent, group 12", "dpm2", "independent", 1.0, 12),
        ("dpm2, localized s=1, group 8", "dpm2", "localized", 1.0, 8),
        ("dpm2, localized s=0.5, group 8", "dpm2", "localized", 0.5, 8),
        ("sde 0.7, independent, group 8", "sde", "independent", 1.0, 8),
    ]
    header = ["setting", "std median"] + [f"> {t:g}" for t in THRESHOLDS]
    header += ["spread edit", "spread keep", "corr(judge, keep PSNR)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for title, sampler, noise, scale, group in settings:
        m = measure(backbone, rows, args.size, args.steps, sampler, noise, scale, group)
        cells = [title, f"{m['std_p50']:.3f}"] + [f"{m[f'above_{t:g}']:.0%}" for t in THRESHOLDS]
        cells += [f"{m['spread_edit']:.3f}", f"{m['spread_keep']:.3f}", f"{m['correlation']:+.2f}"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
