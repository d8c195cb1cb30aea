"""Region metrics: hand-checkable values, NaN on empty regions, scikit-image parity, locality."""

import math

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import structural_similarity

from cocoedit.core import metrics as M


def photo(name: str) -> torch.Tensor:
    return torch.from_numpy(np.asarray(getattr(data, name)(), dtype=np.float32)[..., :3] / 255).permute(2, 0, 1)[None]


def skimage_ssim(x: torch.Tensor, y: torch.Tensor) -> float:
    return structural_similarity(
        x[0].permute(1, 2, 0).double().numpy(),
        y[0].permute(1, 2, 0).double().numpy(),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1,
        channel_axis=-1,
    )


def test_mse_mae_psnr_by_hand():
    x = torch.zeros(1, 3, 4, 4)
    y = torch.zeros(1, 3, 4, 4)
    y[..., :2, :] = 0.1  # region: the top half, off by 0.1 everywhere
    y[..., 2:, :] = 0.9  # outside the region: must not count
    region = torch.zeros(1, 1, 4, 4)
    region[..., :2, :] = 1
    assert M.region_mse(x, y, region).item() == pytest.approx(0.01)
    assert M.region_mae(x, y, region).item() == pytest.approx(0.1)
    assert M.region_psnr(x, y, region).item() == pytest.approx(20.0, abs=1e-4)


def test_psnr_is_true_mse_not_channel_summed():
    # One channel off by 0.3, two exact: true MSE = 0.09 / 3 = 0.03.
    x = torch.zeros(1, 3, 8, 8)
    y = x.clone()
    y[:, 0] = 0.3
    assert M.region_psnr(x, y, torch.ones(1, 1, 8, 8)).item() == pytest.approx(10 * math.log10(1 / 0.03), abs=1e-4)


def test_identical_region_scores_the_documented_cap():
    x = torch.rand(1, 3, 16, 16)
    assert M.region_psnr(x, x.clone(), torch.ones(1, 1, 16, 16)).item() == pytest.approx(M.PSNR_IDENTICAL_DB)
    assert M.region_ssim(x, x.clone(), torch.ones(1, 1, 16, 16)).item() == pytest.approx(1.0, abs=1e-6)


def test_empty_region_is_nan_and_flagged():
    x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    region = torch.ones(2, 1, 16, 16)
    region[1] = 0
    result = M.region_metrics(x, y, region)
    assert result.empty.tolist() == [False, True]
    for value in (result.mse, result.mae, result.psnr, result.ssim):
        assert math.isfinite(value[0].item()) and math.isnan(value[1].item())


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
@pytest.mark.parametrize("mode", ["normalized", "full_map"])
def test_full_region_ssim_equals_scikit_image(name, mode):
    x = photo(name)
    gen = torch.Generator().manual_seed(1)
    noisy = (x + 0.06 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    full = torch.ones(1, 1, *x.shape[-2:])
    for y in (noisy, blurred):
        ours = M.region_ssim(x, y, full, mode=mode).item()
        assert ours == pytest.approx(skimage_ssim(x, y), abs=1e-3)


def test_normalized_ssim_ignores_the_edit_region_and_full_map_does_not(astronaut):
    x = astronaut[..., :192, :192]
    y = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    keep = torch.ones(1, 1, 192, 192)
    keep[..., 60:130, 50:140] = 0
    y_other = y.clone()
    y_other[..., 60:130, 50:140] = torch.rand(1, 3, 70, 90, generator=torch.Generator().manual_seed(3))
    x_other = x.clone()
    x_other[..., 60:130, 50:140] = 0.0
    base = M.region_ssim(x, y, keep).item()
    assert M.region_ssim(x, y_other, keep).item() == pytest.approx(base, abs=1e-6)
    assert M.region_ssim(x_other, y_other, keep).item() == pytest.approx(base, abs=1e-6)
    full_map_change = abs(
        M.region_ssim(x, y_other, keep, mode="full_map").item() - M.region_ssim(x, y, keep, mode="full_map").item()
    )
    assert full_map_change > 1e-3


def test_batch_and_chunking_give_the_same_values(astronaut, monkeypatch):
    x = torch.cat([astronaut[..., :128, :160], astronaut[..., 200:328, 100:260]])
    y = (x + 0.04 * torch.randn(x.shape, generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    region = torch.ones(2, 1, 128, 160)
    region[0, :, 30:90, 40:120] = 0
    batched = M.region_ssim(x, y, region)
    single = torch.cat([M.region_ssim(x[i : i + 1], y[i : i + 1], region[i : i + 1]) for i in range(2)])
    monkeypatch.setattr(M, "_CPU_CHUNK_ELEMENTS", 13 * 160 * 17)  # 7-row chunks: many boundaries
    chunked = M.region_ssim(x, y, region)
    assert torch.allclose(batched, single, atol=1e-6)
    assert torch.allclose(batched, chunked, atol=1e-6)


def test_keep_region_metrics_uses_the_complement_of_the_edit_mask():
    source = torch.zeros(1, 3, 32, 32)
    edited = source.clone()
    edited[..., :16, :] = 1.0  # edited region changed completely
    edited[..., 16:, :] = 0.01  # keep region nearly unchanged
    edit_mask = torch.zeros(1, 1, 32, 32)
    edit_mask[..., :16, :] = 1
    keep = M.keep_region_metrics(edited, source, edit_mask)
    assert keep.mae.item() == pytest.approx(0.01)
    assert keep.region_fraction.item() == pytest.approx(0.5)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="region must have shape"):
        M.region_mse(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8))
    with pytest.raises(ValueError, match="equal shape"):
        M.region_mse(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9), torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError, match="larger than"):
        M.region_ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError, match="mode"):
        M.region_ssim(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16), torch.ones(1, 1, 16, 16), mode="box")


def reference_normalized_ssim(x, y, region):
    """Plain normalised-convolution SSIM with one 2-D Gaussian convolution (slow, obvious)."""
    g = M.gaussian_taps().float()
    window = (g[:, None] * g[None, :])[None, None]
    m = (region >= 0.5).float()

    def conv(t):
        return torch.nn.functional.conv2d(t.reshape(-1, 1, *t.shape[-2:]), window, padding=5).reshape(t.shape)

    w = conv(m).clamp_min(1e-12)
    mx, my = conv(x * m) / w, conv(y * m) / w
    vx, vy, cxy = conv(x * x * m) / w - mx**2, conv(y * y * m) / w - my**2, conv(x * y * m) / w - mx * my
    s = ((2 * mx * my + 1e-4) * (2 * cxy + 9e-4)) / ((mx**2 + my**2 + 1e-4) * (vx + vy + 9e-4))
    scored = torch.zeros_like(m)
    scored[..., 5:-5, 5:-5] = m[..., 5:-5, 5:-5]
    return (s * scored).sum(dim=(1, 2, 3)) / (scored.sum(dim=(1, 2, 3)) * x.shape[1])


def test_chunks_inside_and_across_the_region_agree_with_a_plain_implementation(astronaut, monkeypatch):
    x = astronaut[..., 100:196, 200:280]
    y = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(5))).clamp(0, 1)
    region = torch.ones(1, 1, 96, 80)
    region[..., 70:85, 20:50] = 0  # only the last chunks see the hole; the first are all region
    monkeypatch.setattr(M, "_CPU_CHUNK_ELEMENTS", 13 * 80 * 25)  # 15-row chunks
    ours = M.region_ssim(x, y, region)
    assert ours.item() == pytest.approx(reference_normalized_ssim(x, y, region).item(), abs=1e-5)
