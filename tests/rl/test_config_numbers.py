"""Numbers no training config can mean are refused by key: NaN and infinities anywhere, negative
or all-zero reward weights, a working size above the supported bound."""

import pytest

from cocoedit.core.presets import PRESETS_FOLDER
from cocoedit.models.backbone import MAX_WORKING_SIDE
from cocoedit.rl.config import ConfigError, load_config

TINY = PRESETS_FOLDER / "tiny.yaml"


@pytest.mark.parametrize(
    "override",
    [
        "optim.lr=.inf",
        "optim.lr=nan",
        "advantage.mean_threshold=.nan",
        "reward.weights.pixel=-.inf",
        "reward.weights.pixel=.nan",
        "judge.endpoint.timeout_s=.inf",
    ],
)
def test_nan_and_infinity_are_refused_by_key(override):
    key = override.split("=")[0]
    extra = ["judge.endpoint.model=m"] if key.startswith("judge") else []
    with pytest.raises(ConfigError, match=rf"{key}: Input should be a finite number"):
        load_config(TINY, [*extra, override])


def test_a_negative_reward_weight_is_refused():
    with pytest.raises(ConfigError, match=r"reward.weights.pixel: Input should be greater than or equal to 0"):
        load_config(TINY, ["reward.weights={pixel: -0.5}"])


def test_zero_weights_are_allowed_but_not_all_of_them():
    cfg = load_config(TINY, ["reward.weights={pixel: 1.0, other: 0}"])
    assert cfg.reward.weights == {"pixel": 1.0, "other": 0.0}
    with pytest.raises(ConfigError, match=r"at least one of reward.weights must be above 0"):
        load_config(TINY, ["reward.weights={pixel: 0}"])


@pytest.mark.parametrize("key", ["model.height", "model.width"])
def test_the_working_size_has_an_upper_bound(key):
    assert load_config(TINY, [f"{key}={MAX_WORKING_SIDE}"])
    with pytest.raises(ConfigError, match=rf"{key}: Input should be less than or equal to {MAX_WORKING_SIDE}"):
        load_config(TINY, [f"{key}=100000"])
