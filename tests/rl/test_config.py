"""Training configs: presets load, unknown keys get a suggestion, overrides are typed."""

from pathlib import Path

import pytest

from cocoedit.core.presets import PRESETS_FOLDER
from cocoedit.core.settings import apply_overrides
from cocoedit.rl.config import ConfigError, load_config

CONFIGS = PRESETS_FOLDER


@pytest.mark.parametrize(
    "name",
    [
        "kontext.yaml",
        "qwen_image_edit_2509.yaml",
        "tiny.yaml",
        "flux2_klein.yaml",
        "flux2_dev.yaml",
        "qwen_image_2.1.yaml",
        "qwen_image_edit_2511.yaml",
    ],
)
def test_presets_load(name):
    cfg = load_config(CONFIGS / name)
    assert cfg.sampling.group_size >= 2


def test_reference_hyperparameters_in_presets():
    kontext = load_config(CONFIGS / "kontext.yaml")
    qwen = load_config(CONFIGS / "qwen_image_edit_2509.yaml")
    assert kontext.reward.weights == {"judge": 0.9, "pixel": 0.1}
    assert qwen.reward.weights == {"judge": 0.8, "pixel": 0.2}
    assert (kontext.regularizer.lambda_ner, qwen.regularizer.lambda_ner) == (0.02, 0.8)
    assert kontext.model.guidance == 2.5 and kontext.optim.lr == 3e-4


def test_unknown_key_suggests_the_nearest():
    with pytest.raises(ConfigError, match=r"unknown key 'optim.lrr' \(did you mean 'optim.lr'\?\)"):
        load_config(CONFIGS / "tiny.yaml", ["optim.lrr=1e-3"])
    with pytest.raises(
        ConfigError, match=r"unknown key 'regularizer.lamda_ner' \(did you mean 'regularizer.lambda_ner'\?\)"
    ):
        load_config(CONFIGS / "tiny.yaml", ["regularizer.lamda_ner=1"])


def test_overrides_are_parsed_as_yaml_values():
    data = apply_overrides({}, ["a.b=3", "a.c=1e-4", "d=[1, 2]", "e=true", "f=text"])
    assert data == {"a": {"b": 3, "c": 1e-4}, "d": [1, 2], "e": True, "f": "text"}
    with pytest.raises(ConfigError, match="not of the form key=value"):
        apply_overrides({}, ["novalue"], ConfigError)


def test_overrides_name_a_list_entry_by_its_name_or_index():
    cfg = load_config(
        CONFIGS / "kontext.yaml",
        ["reward.components.pixel.weight=0.3", "reward.components.0.options.endpoint.model=other", "optim.lr=1e-4"],
    )
    assert cfg.reward.weights == {"judge": 0.9, "pixel": 0.3}
    assert cfg.reward.component("judge").options["endpoint"]["model"] == "other"
    with pytest.raises(ConfigError, match=r"no entry 'pxel' in the list \(its entries: judge, pixel\)"):
        load_config(CONFIGS / "kontext.yaml", ["reward.components.pxel.weight=0.3"])
    with pytest.raises(ConfigError, match=r"'components' is a list: name an entry .*reward.components.<name>.weight"):
        load_config(CONFIGS / "kontext.yaml", ["reward.components.weight=0.3"])


def test_invalid_values_and_a_judge_without_endpoint_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="sampling.group_size: Input should be greater than or equal to 2"):
        load_config(CONFIGS / "tiny.yaml", ["sampling.group_size=1"])
    with pytest.raises(ConfigError, match=r"reward.components.0.options: component 'judge': endpoint: Field required"):
        load_config(CONFIGS / "tiny.yaml", ["reward.components=[{name: judge}]"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad YAML"):
        load_config(tmp_path / "bad.yaml")


def test_unknown_keys_in_a_list_entry_are_named_at_their_index():
    with pytest.raises(
        ConfigError, match=r"unknown key 'reward.components.0.wieght' \(did you mean 'reward.components.0.weight'\?\)"
    ):
        load_config(CONFIGS / "tiny.yaml", ["reward.components=[{name: pixel, wieght: 1}]"])


def test_every_key_is_documented():
    from cocoedit.core.settings import valid_keys
    from cocoedit.rl.config import CocoEditConfig

    doc = (Path(__file__).parents[2] / "docs" / "training.md").read_text()
    missing = [k for k in valid_keys(CocoEditConfig) if f"`{k}`" not in doc]
    assert not missing, f"keys missing from docs/training.md: {missing}"
