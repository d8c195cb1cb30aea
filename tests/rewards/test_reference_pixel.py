"""The reference's pixel scorer reproduced (method.md §d.2): its PSNR offset, its saturated SSIM,
and its reward, checked by hand and against a literal per-pixel implementation."""

import math

import pytest
import torch

from cocoedit.core.metrics import region_psnr, region_ssim
from cocoedit.rewards.pixel import pixel_consistency_reward
from cocoedit.rewards.reference_pixel import (
    C1,
    C2,
    gaussian_window,
    reference_pixel_reward,
    reference_psnr,
    reference_ssim,
    reference_ssim_map,
)


def smooth_image(size=96):
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    return torch.stack(
        [0.5 + 0.25 * torch.sin(2 * math.pi * (a * yy + b * xx)) for a, b in ((1, 0.5), (0.3, 1.2), (0.8, 0.8))]
    )[None]


def edit_square(size, b=1):
    mask = torch.zeros(b, 1, size, size)
    mask[..., size // 4 : size // 2, size // 4 : size // 2] = 1
    return mask


def test_psnr_is_exactly_10_log10_3_below_the_true_psnr():
    gen = torch.Generator().manual_seed(0)
    source = torch.rand(2, 3, 24, 24, generator=gen)
    edited = (source + 0.05 * torch.randn(source.shape, generator=gen)).clamp(0, 1)
    mask = edit_square(24, 2)
    offset = region_psnr(edited, source, 1 - mask) - reference_psnr(edited, source, mask)
    assert offset.tolist() == pytest.approx([10 * math.log10(3)] * 2, abs=1e-4)  # 4.771 dB


def test_psnr_by_hand():
    source = torch.full((1, 3, 16, 16), 0.4)
    edited = source + 0.1  # true MSE 0.01 (20 dB); channel-summed: 0.03
    edited[..., :4, :4] = 1.0  # inside the edit region: not scored
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :4, :4] = 1
    assert reference_psnr(edited, source, mask).item() == pytest.approx(10 * math.log10(1 / 0.03), abs=1e-4)
    assert reference_psnr(source, source, mask).item() == pytest.approx(80.0)  # MSE floor 1e-8


def test_ssim_map_at_an_interior_pixel_by_hand():
    # Constant images c and c + delta, everything kept: at a pixel whose whole window is inside,
    # A = 121, mu = value / 121, sigma^2 = value^2 / 121 - mu^2, sigma_xy likewise.
    c, delta = 0.5, 0.1
    x, y = torch.full((1, 3, 32, 32), c + delta), torch.full((1, 3, 32, 32), c)
    keep = torch.ones(1, 1, 32, 32)
    mx, my = (c + delta) / 121, c / 121
    vx, vy = (c + delta) ** 2 / 121 - mx**2, c**2 / 121 - my**2
    cov = (c + delta) * c / 121 - mx * my
    expected = (2 * mx * my + C1) * (2 * cov + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
    got = reference_ssim_map(x, y, keep)[0, :, 16, 16]
    assert got.tolist() == pytest.approx([expected] * 3, rel=1e-6)
    assert expected > 0.98  # a 0.1 shift of everything barely moves it


def literal_ssim(x, y, keep):
    """The definition, pixel by pixel, with explicit zero padding."""
    g = gaussian_window().tolist()
    _, c, h, w = x.shape
    total, count = 0.0, 0.0
    for py in range(h):
        for px in range(w):
            if keep[0, 0, py, px] < 0.5:
                continue
            per_channel = []
            for ch in range(c):
                a = 1e-8
                sx = sy = sxx = syy = sxy = 0.0
                for dy in range(-5, 6):
                    for dx in range(-5, 6):
                        qy, qx = py + dy, px + dx
                        if not (0 <= qy < h and 0 <= qx < w):
                            continue
                        m = float(keep[0, 0, qy, qx])
                        a += m
                        wgt = g[dy + 5][dx + 5] * m
                        xv, yv = float(x[0, ch, qy, qx]), float(y[0, ch, qy, qx])
                        sx += wgt * xv
                        sy += wgt * yv
                        sxx += wgt * xv * xv
                        syy += wgt * yv * yv
                        sxy += wgt * xv * yv
                mx, my = sx / a, sy / a
                vx, vy, cv = sxx / a - mx * mx, syy / a - my * my, sxy / a - mx * my
                per_channel.append((2 * mx * my + C1) * (2 * cv + C2) / ((mx * mx + my * my + C1) * (vx + vy + C2)))
            total += sum(per_channel) / c
            count += 1
    return min(max(total / count, 0.0), 1.0)


def test_ssim_matches_the_literal_definition_on_a_masked_random_image():
    gen = torch.Generator().manual_seed(1)
    y = torch.rand(1, 3, 12, 12, generator=gen)
    x = (y + 0.3 * torch.randn(y.shape, generator=gen)).clamp(0, 1)
    edit = (torch.rand(1, 1, 12, 12, generator=gen) > 0.6).float()
    assert reference_ssim(x, y, edit).item() == pytest.approx(literal_ssim(x, y, 1 - edit), abs=1e-6)


@pytest.mark.parametrize("noise, reference_above, ours_below", [(0.01, 0.999, 0.97), (0.1, 0.97, 0.4)])
def test_ssim_saturates_where_the_true_ssim_does_not(noise, reference_above, ours_below):
    # method.md §d.2: 0.9999 / 0.9906 for sigma 0.01 / 0.1 on a smooth image (ours: 0.94 / 0.15 here).
    source = smooth_image()
    edited = source + noise * torch.randn(source.shape, generator=torch.Generator().manual_seed(0))
    edit = edit_square(96)
    assert reference_ssim(edited, source, edit).item() > reference_above
    assert region_ssim(edited, source, 1 - edit).item() < ours_below


def test_reward_worked_example_of_method_md():
    # True keep PSNR 25 dB -> reference 20.23 dB -> 0.506 normalised; SSIM ~ 0.99 -> about 0.675.
    source = smooth_image(48)
    edited = source + math.sqrt(10**-2.5)  # a uniform shift: true MSE 10^-2.5
    edit = edit_square(48)
    psnr = reference_psnr(edited, source, edit).item()
    assert psnr == pytest.approx(25 - 10 * math.log10(3), abs=1e-3)
    ssim = reference_ssim(edited, source, edit).item()
    out = reference_pixel_reward(edited, source, edit)
    assert out.scores.item() == pytest.approx(0.65 * psnr / 40 + 0.35 * ssim, abs=1e-6)
    assert out.scores.item() == pytest.approx(0.675, abs=0.01)


def test_empty_keep_region_is_unscored_and_masks_are_resized():
    source = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    edit = torch.zeros(2, 1, 16, 16)
    edit[1] = 1
    out = reference_pixel_reward(source * 0.9, source, edit)
    assert out.valid.tolist() == [True, False] and math.isnan(out.scores[1].item())
    small = torch.zeros(1, 1, 8, 8)
    small[..., :4, :] = 1  # bilinear to 16x16, then >= 0.5: the top half
    big = torch.zeros(1, 1, 16, 16)
    big[..., :8, :] = 1
    edited = source[:1].clone()
    edited[..., :8, :] = 0
    assert reference_psnr(edited, source[:1], small).item() == pytest.approx(80.0)
    assert reference_psnr(edited, source[:1], small).item() == reference_psnr(edited, source[:1], big).item()


def test_selected_through_the_pixel_reward():
    source = smooth_image(32)
    edited = source + 0.05
    edit = edit_square(32)
    via = pixel_consistency_reward(edited, source, edit, psnr_weight=0.65, ssim_weight=0.35, scorer="reference")
    assert via.scores.item() == pytest.approx(reference_pixel_reward(edited, source, edit).scores.item())
    standard = pixel_consistency_reward(edited, source, edit, psnr_weight=0.65, ssim_weight=0.35)
    assert standard.scores.item() != pytest.approx(via.scores.item(), abs=1e-3)
    with pytest.raises(ValueError, match="scorer must be"):
        pixel_consistency_reward(edited, source, edit, scorer="skimage")
