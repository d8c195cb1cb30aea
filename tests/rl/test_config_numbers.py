"""Numbers no training config can mean are refused by key: NaN and infinities anywhere, negative
or all-zero reward weights (a built-in reward's options included), a working size above the
supported bound."""

import pytest

from cocoedit.core.presets import PRESETS_FOLDER
from cocoedit.models.backbone import MAX_WORKING_SIDE
from cocoedit.rl.config import ConfigError, load_config

TINY = PRESETS_FOLDER / "tiny.yaml"


JUDGE = "reward.components=[{name: judge, options: {endpoint: {model: m}}}]"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["optim.lr=.inf"], "optim.lr"),
        (["optim.lr=nan"], "optim.lr"),
        (["advantage.mean_threshold=.nan"], "advantage.mean_threshold"),
        (["reward.components.pixel.weight=-.inf"], "reward.components.0.weight"),
        (["reward.components.pixel.weight=.nan"], "reward.components.0.weight"),
        (["reward.components.pixel.options.psnr_max_db=.inf"], "psnr_max_db"),
        ([JUDGE, "reward.components.judge.options.endpoint.timeout_s=.inf"], "endpoint.timeout_s"),
    ],
)
def test_nan_and_infinity_are_refused_by_key(overrides, key):
    with pytest.raises(ConfigError, match=rf"{key}: Input should be a finite number"):
        load_config(TINY, overrides)


def test_a_negative_reward_weight_is_refused():
    with pytest.raises(ConfigError, match=r"reward.components.0.weight: Input should be greater than or equal to 0"):
        load_config(TINY, ["reward.components.pixel.weight=-0.5"])


def test_zero_weights_are_allowed_but_not_all_of_them():
    cfg = load_config(TINY, ["reward.components=[{name: pixel}, {name: other, weight: 0}]"])
    assert cfg.reward.weights == {"pixel": 1.0, "other": 0.0}
    with pytest.raises(ConfigError, match=r"at least one of reward.components must have a weight above 0"):
        load_config(TINY, ["reward.components.pixel.weight=0"])


@pytest.mark.parametrize("key", ["model.height", "model.width"])
def test_the_working_size_has_an_upper_bound(key):
    assert load_config(TINY, [f"{key}={MAX_WORKING_SIDE}"])
    with pytest.raises(ConfigError, match=rf"{key}: Input should be less than or equal to {MAX_WORKING_SIDE}"):
        load_config(TINY, [f"{key}=100000"])
