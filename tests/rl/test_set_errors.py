"""A bad ``--set`` is blamed on itself, not on the config file it overrides; a bad key in the file
is still blamed on the file."""

import pytest
import yaml

from cocoedit.rl.config import ConfigError, load_config
from cocoedit.testing.trainer import tiny_training_config


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(tiny_training_config()))
    return path


def error(path, *overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    return str(info.value)


@pytest.mark.parametrize(
    "item, problem",
    [
        ("optim.lr=abc", "optim.lr: Input should be a valid number"),
        ("nosuch.key=1", "unknown key 'nosuch'"),
        ("optim.nosuch=1", "unknown key 'optim.nosuch'"),
        ("reward.components.pixel.weight=-1", "reward.components.0.weight: Input should be greater"),
    ],
)
def test_a_bad_override_names_itself_not_the_file(config_file, item, problem):
    message = error(config_file, item)
    assert message.startswith(f"--set {item}: {problem}"), message
    assert "mine.yaml" not in message


def test_a_bad_key_in_the_file_still_names_the_file(config_file, tmp_path):
    data = yaml.safe_load(config_file.read_text())
    data["optim"]["lr"] = "fast"
    config_file.write_text(yaml.safe_dump(data))
    message = error(config_file, "train.epochs=zero", "optim.eps=1e-6")
    assert f"{config_file}: optim.lr: Input should be a valid number" in message
    assert "--set train.epochs=zero: train.epochs: Input should be a valid integer" in message
    assert "optim.eps" not in message
