"""Masked PSNR + SSIM throughput on 8 x 512^2 RGB images, against two baselines measured in the
same run: scikit-image's Gaussian SSIM and a plain 2-D 11x11 depthwise-convolution SSIM in torch.

Prints megapixels per second for each and the ratios. Target (issue #2): at least 10 MPix/s for
ours on 2 CPU cores. Usage: ``python benchmarks/bench_metrics.py [--repeats N] [--threads T]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F


def conv2d_ssim(x: torch.Tensor, y: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Baseline: normalised-convolution SSIM with one 11x11 2-D depthwise conv in NCHW layout."""
    from cocoedit.core.metrics import gaussian_taps

    g = gaussian_taps().float()
    c = x.shape[1]
    xm, ym = x * region, y * region
    stack = torch.cat([xm, ym, xm * x + ym * y, xm * y, region], dim=1)
    k = stack.shape[1]
    window = (g[:, None] * g[None, :]).expand(k, 1, -1, -1).contiguous()
    f = F.conv2d(stack, window, padding=5, groups=k)
    w = f[:, 4 * c :].clamp_min(1e-12)
    mx, my, sq, xy = (f[:, i * c : (i + 1) * c] / w for i in range(4))
    ssim = ((2 * mx * my + 1e-4) * (2 * (xy - mx * my) + 9e-4)) / (
        (mx * mx + my * my + 1e-4) * (sq - mx * mx - my * my + 9e-4)
    )
    scored = torch.zeros_like(region)
    scored[..., 5:-5, 5:-5] = region[..., 5:-5, 5:-5]
    return (ssim * scored).sum(dim=(1, 2, 3)) / (scored.sum(dim=(1, 2, 3)) * c)


def time_it(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from skimage import data
    from skimage.metrics import structural_similarity

    from cocoedit.core.metrics import region_psnr, region_ssim

    photo = torch.from_numpy(np.asarray(data.astronaut(), dtype=np.float32) / 255).permute(2, 0, 1)
    photo = F.interpolate(photo[None], size=(args.size, args.size), mode="bilinear", align_corners=False)[0]
    gen = torch.Generator().manual_seed(0)
    x = photo.expand(args.batch, -1, -1, -1).contiguous()
    y = (x + 0.05 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    region = torch.ones(args.batch, 1, args.size, args.size)
    for i in range(args.batch):  # a different edit region per image
        y0, x0 = 40 + 20 * i, 60 + 15 * i
        region[i, :, y0 : y0 + args.size // 3, x0 : x0 + args.size // 4] = 0
    mpix = args.batch * args.size * args.size / 1e6

    ours = time_it(lambda: (region_psnr(x, y, region), region_ssim(x, y, region)), args.repeats)
    ours_full_map = time_it(
        lambda: (region_psnr(x, y, region), region_ssim(x, y, region, mode="full_map")), args.repeats
    )
    conv2d = time_it(lambda: (region_psnr(x, y, region), conv2d_ssim(x, y, region)), args.repeats)
    xs = x.permute(0, 2, 3, 1).double().numpy()
    ys = y.permute(0, 2, 3, 1).double().numpy()
    sk = time_it(
        lambda: [
            structural_similarity(
                a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1
            )
            for a, b in zip(xs, ys, strict=True)
        ],
        max(1, args.repeats // 2),
    )

    # The baselines must agree with ours before their speed means anything.
    agree = (conv2d_ssim(x, y, region) - region_ssim(x, y, region)).abs().max().item()
    print(f"batch {args.batch} x {args.size}^2 RGB, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"{'method':<44}{'seconds':>9}{'MPix/s':>9}{'vs ours':>9}")
    for name, t in [
        ("cocoedit masked PSNR+SSIM (normalized)", ours),
        ("cocoedit masked PSNR+SSIM (full_map)", ours_full_map),
        ("baseline: 2-D 11x11 conv SSIM + PSNR", conv2d),
        ("baseline: scikit-image SSIM (full image)", sk),
    ]:
        print(f"{name:<44}{t:>9.3f}{mpix / t:>9.2f}{ours / t:>9.2f}")
    print(
        f"speed-up over 2-D conv: {conv2d / ours:.1f}x; over scikit-image: {sk / ours:.1f}x; "
        f"max |ours - 2-D conv| = {agree:.1e}"
    )
    target = 10.0
    print(f"target >= {target} MPix/s: {'met' if mpix / ours >= target else 'NOT met'} ({mpix / ours:.1f})")


if __name__ == "__main__":
    main()
