"""Keep-region perceptual metrics: loaded through the user's paths from tiny random-weight models of
the real classes; zero distance / full similarity for identical keep regions, blind to the edit
region, sensitive to the keep region; hand-checked pieces; clear errors for bad weights."""

import math

import pytest
import torch

from cocoedit.eval.perceptual import (
    PerceptualModelError,
    fill_edit_region,
    keep_token_similarity,
    keep_weights,
    load_lpips_heads,
    load_perceptual,
    lpips_keep_distance,
)


@pytest.fixture(scope="module")
def scorer(perceptual_weights):
    w = perceptual_weights
    return load_perceptual(w / "vgg16.pth", w / "lpips_vgg.pth", str(w / "dino"), str(w / "clip"), dino_size=32)


@pytest.fixture()
def pair(astronaut):
    source = torch.nn.functional.interpolate(astronaut, size=(32, 32), mode="area")[0]
    edit = torch.zeros(1, 32, 32)
    edit[:, 10:22, 8:20] = 1.0
    return source, edit


def test_identical_keep_region_scores_perfect_whatever_the_edit(scorer, pair):
    source, edit = pair
    assert scorer.metrics == ("keep_lpips", "keep_dino", "keep_clip")
    same = scorer(source, source, edit)
    assert same["keep_lpips"] == pytest.approx(0.0, abs=1e-6)
    assert same["keep_dino"] == pytest.approx(1.0, abs=1e-5)
    assert same["keep_clip"] == pytest.approx(1.0, abs=1e-5)
    edited = torch.where(edit >= 0.5, 1.0 - source, source)  # a large edit inside the edit region only
    assert scorer(edited, source, edit) == same


def test_a_change_in_the_keep_region_is_seen(scorer, pair):
    source, edit = pair
    drifted = torch.where(edit >= 0.5, source, (source + 0.15).clamp(0, 1))
    noisy = torch.where(edit >= 0.5, source, (source + 0.2 * torch.randn_like(source)).clamp(0, 1))
    for changed in (drifted, noisy):
        scores = scorer(changed, source, edit)
        assert scores["keep_lpips"] > 1e-3
        assert scores["keep_dino"] < 1 - 1e-4
        assert scores["keep_clip"] < 1 - 1e-5
    # More change, larger distance.
    assert scorer(noisy, source, edit)["keep_lpips"] > scorer((0.5 * noisy + 0.5 * source), source, edit)["keep_lpips"]


def test_pieces_by_hand():
    source, result = torch.zeros(3, 4, 4), torch.ones(3, 4, 4)
    mask = torch.zeros(1, 4, 4)
    mask[:, :2] = 1
    filled = fill_edit_region(result, source, mask)
    assert filled[:, :2].eq(0).all() and filled[:, 2:].eq(1).all()
    # Keep share of a 2x2 grid: the top cells are all edit, the bottom ones all keep.
    assert keep_weights(mask[None], (2, 2)).flatten().tolist() == [0.0, 0.0, 1.0, 1.0]
    # One layer, two channels: unit-normalised (1,0) vs (0,1) differ by 1 in each channel -> weights summed.
    fx = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
    fy = torch.tensor([0.0, 3.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
    d = lpips_keep_distance([fx], [fy], [torch.tensor([0.25, 0.5])], torch.zeros(1, 1, 4, 4))
    assert d.item() == pytest.approx(0.75)
    # Tokens: similarity 1 on kept patches, -1 on an edit patch that has no weight.
    tx = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    ty = torch.tensor([[[2.0, 0.0], [0.0, -1.0]]])
    assert keep_token_similarity(tx, ty, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(1.0)
    assert keep_token_similarity(tx, ty, torch.tensor([[0.5, 0.5]])).item() == pytest.approx(0.0)
    assert math.isnan(keep_token_similarity(tx, ty, torch.zeros(1, 2)).item())


def test_uncalibrated_lpips_says_so(perceptual_weights):
    only = load_perceptual(lpips_weights=perceptual_weights / "vgg16.pth")
    assert only.metrics == ("keep_lpips",)
    assert only.info["keep_lpips"]["calibrated"] is False
    assert "uncalibrated" in only.info["keep_lpips"]["label"]
    assert load_perceptual() is None


def test_bad_weights_fail_clearly(perceptual_weights, tmp_path):
    with pytest.raises(PerceptualModelError, match="weights file not found"):
        load_perceptual(lpips_weights=tmp_path / "nope.pth")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(PerceptualModelError, match="not a torchvision VGG16 state dict"):
        load_perceptual(lpips_weights=tmp_path / "bad.pth")
    torch.save({"lin0.model.1.weight": torch.zeros(1, 64, 1, 1)}, tmp_path / "heads.pth")
    with pytest.raises(PerceptualModelError, match="no lin1"):
        load_lpips_heads(tmp_path / "heads.pth")
    with pytest.raises(PerceptualModelError, match="is a 'clip_vision_model' model, expected dinov2"):
        load_perceptual(dino=str(perceptual_weights / "clip"))
    offline_hint = r"HF_HUB_OFFLINE is set.*\(hf download no-such-org/no-such-clip-model\)"
    with pytest.raises(PerceptualModelError, match=offline_hint):
        load_perceptual(clip="no-such-org/no-such-clip-model")
