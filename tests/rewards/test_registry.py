"""Reward components: the table of built-in factories, import paths in both spellings (functions,
classes with options), what a custom reward may return, and errors that name the component."""

import sys

import pytest
import torch

from cocoedit.rewards.base import RewardBatch, RewardError, RewardInputs, as_reward_batch
from cocoedit.rewards.edit_judge import EditJudge
from cocoedit.rewards.pixel import PixelReward
from cocoedit.rewards.registry import BUILTIN_REWARDS, RewardComponent, import_object, load_reward, load_rewards
from cocoedit.testing.trainer import BrightnessTarget, brightness


def inputs(n=3, empty_last=False):
    edited = torch.full((n, 3, 8, 8), 0.25)
    masks = torch.zeros(n, 1, 8, 8)
    masks[:, :, 2:6, 2:6] = 1
    if empty_last:
        masks[-1] = 0
    return RewardInputs(sources=torch.zeros(n, 3, 8, 8), edited=edited, edit_masks=masks, instructions=["x"] * n)


def components(*entries):
    return [RewardComponent.model_validate(e) for e in entries]


def test_the_built_ins_are_a_table_of_factories_taking_the_options():
    assert set(BUILTIN_REWARDS) == {"judge", "pixel", "edit_judge"}
    pixel = BUILTIN_REWARDS["pixel"].build(psnr_weight=0.65, ssim_weight=0.35)
    assert isinstance(pixel, PixelReward) and pixel.kwargs["psnr_weight"] == 0.65
    assert isinstance(BUILTIN_REWARDS["edit_judge"].build(), EditJudge)


def test_builtins_by_name_or_function_and_import_paths_in_both_spellings():
    rewards = load_rewards(
        components(
            {"name": "pixel", "weight": 0.2, "options": {"psnr_weight": 0.65, "ssim_weight": 0.35}},
            {"name": "keep", "function": "pixel", "options": {"scorer": "reference"}},
            {"name": "edit_judge", "weight": 0.1},
            {"name": "bright", "function": "cocoedit.testing.trainer:brightness"},
            {"name": "bright_dotted", "function": "cocoedit.testing.trainer.brightness"},
            {"name": "target", "function": "cocoedit.testing.trainer.BrightnessTarget", "options": {"target": 0.75}},
        )
    )
    assert rewards["pixel"].kwargs == {
        "psnr_max_db": 40.0,
        "psnr_weight": 0.65,
        "ssim_weight": 0.35,
        "scorer": "standard",
    }
    assert rewards["keep"].kwargs["scorer"] == "reference"
    assert isinstance(rewards["edit_judge"], EditJudge)
    assert rewards["bright"] is brightness and rewards["bright_dotted"] is brightness
    assert isinstance(rewards["target"], BrightnessTarget) and rewards["target"].target == 0.75
    scores = as_reward_batch(rewards["target"](inputs()), 3, "target")
    assert scores.scores.tolist() == pytest.approx([0.5, 0.5, 0.5])  # 1 - |0.25 - 0.75|


def test_a_built_in_s_options_are_checked_and_completed_when_the_config_loads():
    (pixel,) = components({"name": "pixel", "options": {"psnr_weight": 0.7}})
    assert pixel.options == {"psnr_max_db": 40.0, "psnr_weight": 0.7, "ssim_weight": 0.5, "scorer": "standard"}
    with pytest.raises(ValueError, match=r"component 'pixel': unknown key 'psnr_wieght' \(did you mean 'psnr_weight'"):
        components({"name": "pixel", "options": {"psnr_wieght": 0.7}})
    with pytest.raises(ValueError, match=r"component 'keep': psnr_weight and ssim_weight are both 0"):
        components({"name": "keep", "function": "pixel", "options": {"psnr_weight": 0, "ssim_weight": 0}})
    with pytest.raises(ValueError, match=r"component 'judge': endpoint: Field required \(see docs/judge.md\)"):
        components({"name": "judge"})
    (custom,) = components({"name": "mine", "function": "pkg.mod:f", "options": {"anything": 1}})
    assert custom.options == {"anything": 1}  # checked by its own class when built
    with pytest.raises(ValueError, match="'my reward' is not a component name"):
        components({"name": "my reward"})


def test_given_components_win():
    mine = lambda inputs: [1.0] * len(inputs)  # noqa: E731
    assert load_rewards(components({"name": "mine"}), given={"mine": mine})["mine"] is mine


def test_the_longest_importable_prefix_is_the_module(tmp_path, monkeypatch):
    package = tmp_path / "nestpkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("class Outer:\n    class Inner:\n        pass\n")
    (package / "sub" / "leaf.py").write_text("def score(inputs):\n    return [0.5] * len(inputs)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "nestpkg", raising=False)
    assert import_object("nestpkg.sub.leaf.score", "here").__module__ == "nestpkg.sub.leaf"
    assert import_object("nestpkg.sub.Outer.Inner", "here").__qualname__ == "Outer.Inner"
    assert import_object("nestpkg.sub:Outer.Inner", "here").__qualname__ == "Outer.Inner"
    with pytest.raises(RewardError, match=r"here: nestpkg.sub.leaf has no attribute 'scores'"):
        import_object("nestpkg.sub.leaf.scores", "here")


def test_a_module_that_fails_to_import_is_named_with_its_error(tmp_path, monkeypatch):
    (tmp_path / "brokenrewards.py").write_text("import not_installed_dependency\n")
    (tmp_path / "raisingrewards.py").write_text("raise RuntimeError('needs a GPU')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        RewardError, match=r"importing brokenrewards failed .*No module named 'not_installed_dependency'"
    ):
        import_object("brokenrewards.Score", "here")
    with pytest.raises(RewardError, match=r"importing raisingrewards failed \(RuntimeError: needs a GPU\)"):
        import_object("raisingrewards:Score", "here")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "ocr"}, r"reward component 'ocr': 'ocr' is not a built-in reward \(judge, pixel, edit_judge\); give"),
        ({"name": "pxiel"}, r"'pxiel' is not a built-in reward .*\(did you mean 'pixel'\?\)"),
        ({"name": "r", "function": "nonsense"}, r"reward component 'r': 'nonsense' is neither a built-in reward"),
        (
            {"name": "r", "function": "no_such_package.rewards:f"},
            r"'r': cannot import no_such_package.rewards \(no such",
        ),
        (
            {"name": "r", "function": "no_such_package.rewards.Sharp"},
            r"cannot resolve 'no_such_package.rewards.Sharp': none of the modules no_such_package.rewards, "
            r"no_such_package exists",
        ),
        ({"name": "r", "function": "cocoedit.testing.trainer:nothing_here"}, r"has no attribute 'nothing_here'"),
        (
            {"name": "r", "function": "cocoedit.testing.trainer:BrightnessTarget", "options": {"colour": 1}},
            r"reward component 'r': cocoedit.testing.trainer:BrightnessTarget\(\*\*options\) failed: .*'colour'",
        ),
    ],
)
def test_bad_references_name_the_component(entry, message):
    with pytest.raises(RewardError, match=message):
        load_rewards(components(entry))


def test_load_reward_checks_a_built_in_s_options_too():
    with pytest.raises(RewardError, match=r"reward component 'pixel': unknown key 'colour'"):
        load_reward("pixel", options={"colour": 1})


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
