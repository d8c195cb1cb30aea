"""Credit assignment: rewards -> the r of each region, on hand-checkable groups; the per-element
maps the step trains with; the credit config's checks."""

import pytest
import torch

from cocoedit.rl.advantages import Credit, assign_credit, credit_maps, optimality_probability, region_share
from cocoedit.rl.config import AdvantageConfig, ConfigError, CreditConfig, load_config
from cocoedit.rl.diagnostics import signal_metrics

# One group of three samples: the judge prefers sample 0, the pixel reward sample 2.
JUDGE = (torch.tensor([0.9, 0.5, 0.1]), torch.ones(3, dtype=torch.bool))
PIXEL = (torch.tensor([0.2, 0.5, 0.8]), torch.ones(3, dtype=torch.bool))
GROUPS = torch.zeros(3, dtype=torch.long)
WEIGHTS = {"judge": 0.8, "pixel": 0.2}
ADVANTAGE = AdvantageConfig(std_threshold=0.0)


def test_single_credit_is_the_paper_r_of_the_combined_reward():
    out = assign_credit({"judge": JUDGE, "pixel": PIXEL}, WEIGHTS, GROUPS, advantage=ADVANTAGE, credit=CreditConfig())
    combined = 0.8 * JUDGE[0] + 0.2 * PIXEL[0]
    expected = optimality_probability(combined, GROUPS, std_threshold=0.0)
    assert out.credit.is_single and out.regions == {}
    assert out.credit.r_edit.tolist() == pytest.approx(expected.r.tolist())
    assert out.credit.r_edit[0] > out.credit.r_edit[2]  # the judge's weight wins


def test_region_credit_gives_each_region_its_own_ranking():
    credit = CreditConfig(assignment="region", edit_rewards=["judge"], keep_rewards=["pixel"])
    out = assign_credit({"judge": JUDGE, "pixel": PIXEL}, WEIGHTS, GROUPS, advantage=ADVANTAGE, credit=credit)
    c = out.credit
    assert not c.is_single
    assert c.r_edit[0] > c.r_edit[1] > c.r_edit[2]
    assert c.r_keep[2] > c.r_keep[1] > c.r_keep[0]
    # Each region's r is the paper's transform of that region's reward alone.
    assert c.r_keep.tolist() == pytest.approx(optimality_probability(PIXEL[0], GROUPS, std_threshold=0.0).r.tolist())
    assert set(out.regions) == {"edit", "keep"}


def test_region_rewards_are_weighted_means_in_the_components_scale():
    # Two keep components: their weighted mean (0.1 * a + 0.3 * b) / 0.4, so a group's std is in
    # the components' own units and the threshold means the same as for one component.
    a, b = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0])
    ok = torch.ones(2, dtype=torch.bool)
    comps = {"judge": (torch.tensor([0.5, 0.5]), ok), "a": (a, ok), "b": (b, ok)}
    credit = CreditConfig(assignment="region", edit_rewards=["judge"], keep_rewards=["a", "b"])
    out = assign_credit(
        comps,
        {"judge": 1.0, "a": 0.1, "b": 0.3},
        torch.zeros(2, dtype=torch.long),
        advantage=AdvantageConfig(std_threshold=0.2),
        credit=credit,
    )
    assert out.regions["keep"].group_mean.tolist() == pytest.approx([0.5])
    assert out.regions["keep"].group_std.tolist() == pytest.approx([0.25])  # (0.75 - 0.25) / 2: above 0.2
    assert out.credit.valid_keep.tolist() == [True, True]
    assert out.credit.valid_edit.tolist() == [False, False]  # the judge has no spread here
    assert out.credit.valid.tolist() == [True, True]


def test_a_region_without_rewards_gets_no_credit():
    credit = CreditConfig(assignment="region", edit_rewards=["judge", "pixel"])
    out = assign_credit({"judge": JUDGE, "pixel": PIXEL}, WEIGHTS, GROUPS, advantage=ADVANTAGE, credit=credit)
    assert not out.credit.valid_keep.any() and out.credit.valid_edit.all()


def test_region_share_and_credit_maps_by_hand():
    edit = torch.zeros(1, 1, 1, 6)
    edit[..., :3] = 1  # columns 0-2 edit
    share = region_share(edit, ring_radius=1, ring_weight=0.25)
    assert share[0, 0, 0].tolist() == [1, 1, 0.25, 0.25, 0, 0]
    credit = Credit(torch.tensor([0.9]), torch.tensor([True]), torch.tensor([0.2]), torch.tensor([True]))
    r, weight = credit_maps(share, credit)
    ring = 0.25 * 0.9 + 0.75 * 0.2
    assert r[0, 0, 0].tolist() == pytest.approx([0.9, 0.9, ring, ring, 0.2, 0.2])
    assert weight[0, 0, 0].tolist() == [1, 1, 1, 1, 1, 1]
    # The keep region's group carried no signal: it adds nothing, the ring takes the edit's r.
    no_keep = Credit(torch.tensor([0.9]), torch.tensor([True]), torch.tensor([float("nan")]), torch.tensor([False]))
    r, weight = credit_maps(share, no_keep)
    assert weight[0, 0, 0].tolist() == [1, 1, 0.25, 0.25, 0, 0]
    assert r[0, 0, 0].tolist() == pytest.approx([0.9, 0.9, 0.9, 0.9, 0.5, 0.5])


def _config(**credit):
    base = {
        "model": {"path": "m"},
        "data": {"manifest": "d"},
        "reward": {
            "components": [
                {"name": "edit_judge", "weight": 0.8},
                {"name": "pixel", "weight": 0.2},
                {"name": "logged", "weight": 0.0},
            ]
        },
        "credit": credit,
    }
    return load_config(None, [], base=base)


def test_credit_config_names_its_errors():
    assert (
        _config(assignment="region", edit_rewards=["edit_judge"], keep_rewards=["pixel"]).credit.assignment == "region"
    )
    with pytest.raises(ConfigError, match="credit.keep_rewards names 'pixle', which is not a reward component"):
        _config(assignment="region", edit_rewards=["edit_judge"], keep_rewards=["pixle"])
    with pytest.raises(ConfigError, match="'pixel' is in neither credit.edit_rewards nor credit.keep_rewards"):
        _config(assignment="region", edit_rewards=["edit_judge"])
    with pytest.raises(ConfigError, match="name no component with a weight above 0"):
        _config(assignment="region", edit_rewards=["logged"])
    with pytest.raises(ConfigError, match="credit.assignment"):
        _config(assignment="per_pixel")


def test_equal_region_weights_balance_a_small_edit_region():
    edit = torch.zeros(1, 1, 1, 8)
    edit[..., :2] = 1  # the edit region is a quarter of the image
    share = region_share(edit, ring_radius=0, ring_weight=0.5)
    credit = Credit(torch.tensor([0.9]), torch.tensor([True]), torch.tensor([0.2]), torch.tensor([True]))
    r, weight = credit_maps(share, credit, equal=True)
    assert weight[0, 0, 0].tolist() == pytest.approx([2, 2, 2 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3])
    assert weight[..., :2].sum().item() == pytest.approx(weight[..., 2:].sum().item())  # each region half
    assert r[0, 0, 0].tolist() == pytest.approx([0.9] * 2 + [0.2] * 6)


def test_thresholds_read_the_weighted_mean_whatever_the_weights_sum_to():
    # Group 0: combined std 0.015 (under the 0.02 threshold); group 1: std 0.03; group 2: mean 0.6
    # and std 0.1. Weights summing to 2 must select the same groups as weights summing to 1 (a raw
    # sum would double group 0's std past the threshold and group 2's mean past 0.9).
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    judge = torch.tensor([0.485, 0.515, 0.47, 0.53, 0.5, 0.7])
    ok = torch.ones(6, dtype=torch.bool)
    comps = {"judge": (judge, ok), "pixel": (judge.clone(), ok)}
    advantage = AdvantageConfig(std_threshold=0.02, mean_threshold=0.9)
    one = assign_credit(comps, {"judge": 0.5, "pixel": 0.5}, groups, advantage=advantage, credit=CreditConfig())
    two = assign_credit(comps, {"judge": 1.0, "pixel": 1.0}, groups, advantage=advantage, credit=CreditConfig())
    assert one.credit.valid.tolist() == [False, False, True, True, True, True]
    assert two.credit.valid.tolist() == one.credit.valid.tolist()
    assert two.combined.group_std.tolist() == pytest.approx(one.combined.group_std.tolist())
    assert two.combined.group_mean.tolist() == pytest.approx([0.5, 0.5, 0.6])
    assert two.credit.r_edit.tolist() == pytest.approx(one.credit.r_edit.tolist(), abs=1e-3)
    # The diagnostics and the no-signal stop read the same statistics.
    assert signal_metrics(two, 0.02) == pytest.approx(signal_metrics(one, 0.02))
    assert signal_metrics(two, 0.02)["signal/uninformative_groups"] == pytest.approx(1 / 3)
