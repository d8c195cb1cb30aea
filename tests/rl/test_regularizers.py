"""Region regularizers L_ner+ / L_er- on hand-made latent masks."""

import pytest
import torch

from cocoedit.rl.advantages import Credit
from cocoedit.rl.config import RegularizerConfig
from cocoedit.rl.regularizers import region_regularizers, region_weight_maps, weighted_latent_distance


def left_half_edit(b=1, h=8, w=8):
    mask = torch.zeros(b, 1, h, w)
    mask[..., :, : w // 2] = 1  # edit region: columns 0-3
    return mask


def test_weight_maps_erode_both_regions_and_share_the_ring():
    w_keep, w_edit = region_weight_maps(left_half_edit(), erode_radius=1, ring_weight=0.2)
    assert w_keep[0, 0, 3].tolist() == pytest.approx([0, 0, 0, 0.2, 0.2, 1, 1, 1])
    assert w_edit[0, 0, 3].tolist() == pytest.approx([1, 1, 1, 0.2, 0.2, 0, 0, 0])
    no_ring, _ = region_weight_maps(left_half_edit(), erode_radius=0)
    assert no_ring[0, 0, 0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_weighted_distance_by_hand():
    a = torch.zeros(1, 2, 2, 2)
    b = torch.zeros(1, 2, 2, 2)
    b[:, 0, 0, 0] = 1.0  # weighted 1
    b[:, 1, 1, 1] = 3.0  # weighted 0: ignored
    weight = torch.tensor([[[[1.0, 0.5], [0.5, 0.0]]]])
    # sum W (a-b)^2 = 1, C * sum W = 2 * 2 = 4
    assert weighted_latent_distance(a, b, weight).item() == pytest.approx(0.25)


def run(x0_pos, x0_neg, x_src, r=(1.0,), valid=(True,), x0_sample=None, **kw):
    settings = RegularizerConfig(**{"lambda_ner": 1.0, "lambda_er": 1.0, "erode_radius": 1, **kw})
    return region_regularizers(
        x0_positive=x0_pos,
        x0_negative=x0_neg,
        x0_sample=x_src if x0_sample is None else x0_sample,
        x_source=x_src,
        edit_mask=left_half_edit(len(r)),
        credit=Credit.single(torch.tensor(r), torch.tensor(valid)),
        settings=settings,
    )


def test_keep_term_ignores_the_edit_core_and_hinges_at_tau():
    src = torch.zeros(1, 4, 8, 8)
    x0_pos = src.clone()
    x0_pos[..., :3] = 5.0  # big change in the eroded edit region only
    out = run(x0_pos, src + 1.0, src)
    assert out.keep_distance.item() == 0 and out.keep_term.item() == 0
    x0_pos[..., 5:] = 0.1  # small change on the keep core: d = 0.01 * 24 / 24... above tau 1e-3
    out = run(x0_pos, src + 1.0, src)
    expected_d = 0.01 * 24 / (24 + 0.2 * 16)
    assert out.keep_distance.item() == pytest.approx(expected_d, rel=1e-5)
    assert out.keep_term.item() == pytest.approx(expected_d - 1e-3, rel=1e-5)
    assert run(x0_pos, src + 1.0, src, tau_pos=1.0).keep_term.item() == 0


def test_edit_term_penalises_negative_predictions_that_did_not_edit():
    src = torch.zeros(1, 4, 8, 8)
    unchanged = run(src, src.clone(), src, r=(0.0,))
    assert unchanged.edit_term.item() == pytest.approx(3e-2)  # relu(tau- - 0)
    assert unchanged.loss.item() == pytest.approx(3e-2)  # (1 - r) * lambda_er
    edited = run(src, src + 1.0, src, r=(0.0,))
    assert edited.edit_term.item() == 0 and edited.loss.item() == 0


def test_positive_target_source_versus_sample():
    src = torch.zeros(1, 4, 8, 8)
    sample = src + 0.5  # the rollout drifted everywhere
    paper = run(sample.clone(), src + 1, src, x0_sample=sample, positive_target="source")
    reference = run(sample.clone(), src + 1, src, x0_sample=sample, positive_target="sample")
    assert paper.keep_distance.item() == pytest.approx(0.25) and reference.keep_distance.item() == 0
    with pytest.raises(ValueError, match="positive_target"):
        run(src, src, src, positive_target="target")


def test_r_lambda_and_valid_weighting():
    src = torch.zeros(2, 4, 8, 8)
    x0_pos = src + 0.2  # keep distance 0.04 -> L_ner = 0.039
    out = run(x0_pos, src.clone(), src, r=(0.25, float("nan")), valid=(True, False), lambda_ner=2.0, lambda_er=0.5)
    expected = 0.25 * 2.0 * (0.04 - 1e-3) + 0.75 * 0.5 * 3e-2
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    x0_pos.requires_grad_()
    loss = run(x0_pos, src.clone(), src, r=(1.0, 1.0), valid=(True, False), lambda_er=0.0).loss
    loss.backward()
    assert x0_pos.grad[1].abs().sum() == 0 and x0_pos.grad[0].abs().sum() > 0
    assert x0_pos.grad[0, :, :, :3].abs().sum() == 0  # the edit core is never pulled
