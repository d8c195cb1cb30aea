"""Reward components by name: built-ins, dotted import paths (functions, classes with options),
what a custom reward may return, and errors that name the config key."""

import pytest
import torch

from cocoedit.rewards.base import RewardBatch, RewardError, RewardInputs, as_reward_batch
from cocoedit.rewards.edit_judge import EditJudge
from cocoedit.rewards.pixel import PixelReward
from cocoedit.rewards.registry import load_rewards
from cocoedit.testing.trainer import BrightnessTarget, brightness


def inputs(n=3, empty_last=False):
    edited = torch.full((n, 3, 8, 8), 0.25)
    masks = torch.zeros(n, 1, 8, 8)
    masks[:, :, 2:6, 2:6] = 1
    if empty_last:
        masks[-1] = 0
    return RewardInputs(sources=torch.zeros(n, 3, 8, 8), edited=edited, edit_masks=masks, instructions=["x"] * n)


def test_builtins_dotted_functions_and_classes_with_options():
    rewards = load_rewards(
        {"pixel": 0.2, "edit_judge": 0.1, "bright": 0.3, "target": 0.4},
        {"bright": "cocoedit.testing.trainer:brightness", "target": "cocoedit.testing.trainer:BrightnessTarget"},
        {"target": {"target": 0.75}},
        pixel={"psnr_weight": 0.65, "ssim_weight": 0.35},
    )
    assert isinstance(rewards["pixel"], PixelReward) and rewards["pixel"].kwargs["psnr_weight"] == 0.65
    assert isinstance(rewards["edit_judge"], EditJudge)
    assert rewards["bright"] is brightness
    assert isinstance(rewards["target"], BrightnessTarget) and rewards["target"].target == 0.75
    scores = as_reward_batch(rewards["target"](inputs()), 3, "target")
    assert scores.scores.tolist() == pytest.approx([0.5, 0.5, 0.5])  # 1 - |0.25 - 0.75|


def test_given_components_win_and_extra_names_are_refused():
    mine = lambda inputs: [1.0] * len(inputs)  # noqa: E731
    assert load_rewards({"mine": 1.0}, {}, {}, given={"mine": mine})["mine"] is mine
    with pytest.raises(RewardError, match=r"reward.functions / reward.options name \['other'\]"):
        load_rewards({"pixel": 1.0}, {"other": "x:y"}, {})


@pytest.mark.parametrize(
    ("functions", "options", "message"),
    [
        ({"r": "nonsense"}, {}, r"reward.functions.r: 'nonsense' is neither a built-in reward"),
        ({"r": "no_such_package.rewards:f"}, {}, r"reward.functions.r: cannot import no_such_package.rewards"),
        ({"r": "cocoedit.testing.trainer:nothing_here"}, {}, r"has no attribute 'nothing_here'"),
        (
            {"r": "cocoedit.testing.trainer:BrightnessTarget"},
            {"r": {"colour": 1}},
            r"unexpected keyword argument 'colour'",
        ),
    ],
)
def test_bad_specs_name_the_key(functions, options, message):
    with pytest.raises(RewardError, match=message):
        load_rewards({"r": 1.0}, functions, options)


def test_judge_without_a_judge_section_is_named():
    with pytest.raises(RewardError, match="needs a judge section"):
        load_rewards({"judge": 1.0}, {}, {})


def test_what_a_custom_reward_may_return():
    none_means_unscored = as_reward_batch(BrightnessTarget()(inputs(empty_last=True)), 3, "target")
    assert none_means_unscored.valid.tolist() == [True, True, False]
    assert torch.isnan(none_means_unscored.scores[2]) and none_means_unscored.failure_reasons() == ["unscored"]
    assert as_reward_batch(torch.tensor([0.1, float("nan")]), 2, "t").valid.tolist() == [True, False]
    with pytest.raises(RewardError, match=r"reward 'n' returned \(2,\) scores for 3 samples"):
        as_reward_batch([0.1, 0.2], 3, "n")
    with pytest.raises(RewardError, match="reward 's' returned a str"):
        as_reward_batch("0.5", 1, "s")
    with pytest.raises(RewardError, match="non-finite score for a sample it marked valid"):
        as_reward_batch(RewardBatch(torch.tensor([float("inf")]), torch.tensor([True])), 1, "v")
