"""Which way each edit-region term moves the trained prediction (method.md §c.4), by one gradient
step of the term alone, with the implicit negative x0- = 2 x0_old - x0_theta (beta = 1)."""

import pytest
import torch

from cocoedit.rl.advantages import Credit
from cocoedit.rl.config import RegularizerConfig
from cocoedit.rl.regularizers import edit_region_term, region_regularizers, region_weight_maps, weighted_latent_distance

EDIT = torch.zeros(1, 1, 8, 8)
EDIT[..., 2:6, 2:6] = 1  # a 4x4 edit region in the middle
_, W_EDIT = region_weight_maps(EDIT, erode_radius=0)


def one_step(form: str, old_offset: float, distance: str = "squared", tau: float = 3e-2, lr: float = 0.5):
    """d(x0_theta, x_src; W_edit) before and after one SGD step on the term alone.

    The old policy's prediction departs from the source by ``old_offset`` times a fixed random
    direction on the edit region; the trained prediction starts equal to it (as after every
    old-policy update with decay 0).
    """
    g = torch.Generator().manual_seed(0)
    x_src = torch.randn(1, 4, 8, 8, generator=g)
    direction = torch.randn(1, 4, 8, 8, generator=g) * EDIT
    x0_old = x_src + old_offset * direction
    x0_theta = x0_old.clone().requires_grad_(True)  # the leaf: the policy's prediction
    x0_negative = 2 * x0_old - x0_theta
    out = region_regularizers(
        x0_positive=x0_theta,
        x0_negative=x0_negative,
        x0_sample=x0_old,
        x_source=x_src,
        edit_mask=EDIT,
        credit=Credit.single(torch.zeros(1), torch.ones(1, dtype=torch.bool)),
        settings=RegularizerConfig(
            lambda_ner=0.0, lambda_er=1.0, tau_neg=tau, erode_radius=0, edit_term=form, edit_distance=distance
        ),
    )
    out.loss.backward()
    before = weighted_latent_distance(x0_theta.detach(), x_src, W_EDIT).item()
    after = weighted_latent_distance(x0_theta.detach() - lr * x0_theta.grad, x_src, W_EDIT).item()
    return before, after, x0_theta.grad


@pytest.mark.parametrize("offset", [0.02, 0.1])  # nearly unedited, edited (d = 4e-4 and 1e-2, below tau)
def test_reference_term_pulls_the_policy_towards_the_source(offset):
    before, after, _ = one_step("reference", offset)
    assert after < before  # towards under-editing, against the paper's stated aim


@pytest.mark.parametrize("form", ["push_positive", "pull_negative"])
@pytest.mark.parametrize("offset", [0.02, 0.1])
def test_corrected_terms_push_the_policy_away_from_the_source(form, offset):
    before, after, grad = one_step(form, offset, tau=3e-2 if form == "push_positive" else 0.0)
    assert after > before
    assert grad[..., :2, :].abs().sum() == 0  # nothing moves outside the edit region


@pytest.mark.parametrize("distance", ["squared", "sqrt", "l1"])
def test_every_distance_keeps_each_forms_direction(distance):
    tau = {"squared": 3e-2, "sqrt": 0.17, "l1": 0.14}[distance]
    for form, sign in (("reference", -1), ("push_positive", 1), ("pull_negative", 1)):
        before, after, _ = one_step(form, 0.1, distance, tau=tau if form != "pull_negative" else 0.0, lr=0.05)
        assert sign * (after - before) > 0, (form, distance)


def test_non_squared_distances_keep_their_gradient_at_an_unedited_output():
    # As the prediction approaches the source, the squared distance's gradient shrinks with it;
    # sqrt and L1 keep a gradient of fixed size.
    norms = {
        d: [one_step("push_positive", offset, d, tau=1.0)[2].norm().item() for offset in (1e-2, 1e-4)]
        for d in ("squared", "sqrt", "l1")
    }
    assert norms["squared"][1] < 0.02 * norms["squared"][0]
    for d in ("sqrt", "l1"):
        assert norms[d][1] == pytest.approx(norms[d][0], rel=1e-3) and norms[d][1] > 0


def test_exactly_at_the_source_the_gradient_is_zero_not_nan():
    _, _, grad = one_step("push_positive", 0.0, "sqrt", tau=1.0)
    assert torch.isfinite(grad).all() and grad.abs().sum() == 0


def test_hinges_by_hand():
    x_src = torch.zeros(1, 2, 4, 4)
    w = torch.ones(1, 1, 4, 4)
    x0_pos, x0_neg = x_src + 0.1, x_src + 0.3  # squared distances 0.01 and 0.09
    cases = {
        ("reference", "squared"): (0.05 - 0.09, 0.09),
        ("push_positive", "squared"): (0.05 - 0.01, 0.01),
        ("pull_negative", "squared"): (0.09 - 0.05, 0.09),
        ("reference", "sqrt"): (0.05 - 0.3, 0.3),
        ("push_positive", "l1"): (0.05 - 0.1, 0.1),
        ("off", "squared"): (0.0, 0.09),
    }
    for (form, distance), (hinge_arg, d) in cases.items():
        term, dist = edit_region_term(x0_pos, x0_neg, x_src, w, form=form, distance=distance, tau=0.05)
        assert dist.item() == pytest.approx(d, rel=1e-5), (form, distance)
        assert term.item() == pytest.approx(max(hinge_arg, 0.0), abs=1e-7), (form, distance)


def test_unknown_forms_are_refused():
    x = torch.zeros(1, 2, 4, 4)
    w = torch.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match="edit term must be one of"):
        edit_region_term(x, x, x, w, form="push")
    with pytest.raises(ValueError, match="distance must be one of"):
        weighted_latent_distance(x, x, w, "l2")
