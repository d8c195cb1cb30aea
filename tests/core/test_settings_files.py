"""Settings files that cannot be read as meant (not UTF-8, a folder, a key given twice) are refused
by name, by every reader of YAML settings: training configs, curation presets, demo settings."""

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.settings import DuplicateKeyError, apply_overrides, load_yaml
from cocoedit.curation.config import CurationConfigError, load_build_config
from cocoedit.demo.settings import DemoSettingsError, load_demo_settings
from cocoedit.rl.config import ConfigError, load_config

READERS = [
    (load_config, ConfigError),
    (load_build_config, CurationConfigError),
    (load_demo_settings, DemoSettingsError),
]


@pytest.mark.parametrize(("read", "error"), READERS)
def test_a_file_that_is_not_utf8_is_named(tmp_path, read, error):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("seed: 1  # café\n".encode("latin-1"))
    with pytest.raises(error, match=r"latin1.yaml: not UTF-8 text \(byte 0xe9 at offset 14\)"):
        read(path)


@pytest.mark.parametrize(("read", "error"), READERS)
def test_a_folder_is_named(tmp_path, read, error):
    (tmp_path / "presets.yaml").mkdir()
    with pytest.raises(error, match=r"presets.yaml: is a folder, not a config file"):
        read(tmp_path / "presets.yaml")


@pytest.mark.parametrize(("read", "error"), READERS)
def test_a_section_given_twice_is_refused_with_both_lines(tmp_path, read, error):
    path = tmp_path / "twice.yaml"
    path.write_text("train:\n  epochs: 1\nother: 2\ntrain:\n  seed: 3\n")
    with pytest.raises(error, match=r"twice.yaml: key 'train' given twice \(lines 1 and 4\)"):
        read(path)


def test_duplicates_are_found_in_nested_and_flow_mappings():
    with pytest.raises(DuplicateKeyError, match=r"key 'lr' given twice \(lines 2 and 4\)"):
        load_yaml("optim:\n  lr: 1\n  eps: 2\n  lr: 3\n")
    with pytest.raises(DuplicateKeyError, match=r"key 'a' given twice \(line 1\)"):
        load_yaml("weights: {a: 1, b: 2, a: 3}\n")
    assert load_yaml("a: {x: 1}\nb: {x: 1}\n") == {"a": {"x": 1}, "b": {"x": 1}}  # same key, other mappings


def test_an_override_value_with_a_duplicate_key_is_refused():
    with pytest.raises(
        ConfigError, match=r"override 'reward.weights=\{pixel: 1, pixel: 2\}': .*key 'pixel' given twice"
    ):
        apply_overrides({}, ["reward.weights={pixel: 1, pixel: 2}"], ConfigError)


def test_the_command_line_prints_one_line_and_exits_2(tmp_path):
    (tmp_path / "bad.yaml").write_bytes(b"model:\n  path: \xff\xfe\n")
    (tmp_path / "dir.yaml").mkdir()
    for name, message in [("bad.yaml", "not UTF-8 text"), ("dir.yaml", "is a folder")]:
        result = CliRunner().invoke(
            app, ["train", "--config", str(tmp_path / name), "--run-dir", str(tmp_path / "run")]
        )
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
        assert not (tmp_path / "run").exists()
