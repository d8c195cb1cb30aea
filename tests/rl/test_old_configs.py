"""Configs in the earlier spellings still load, each old spelling with a one-line notice, into the
same config as today's spelling; a run started by an earlier version (config.yaml in the old form)
still resumes, and still refuses a result-changing difference."""

import logging
import re

import pytest
import yaml
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.presets import PRESETS_FOLDER
from cocoedit.rl.checkpoint import RunError
from cocoedit.rl.config import ConfigError, load_config
from cocoedit.rl.run_folder import absolute_config, check_resume
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline
from cocoedit.testing.trainer import tiny_training_config

OLD_REFERENCE_REWARD = """
reward:
  weights: {judge: 0.9, pixel: 0.1}
  max_unscored_fraction: 0.25
  pixel: {psnr_max_db: 40, psnr_weight: 0.65, ssim_weight: 0.35, scorer: reference}
judge:
  endpoint: {base_url: "http://127.0.0.1:8000/v1", model: Qwen/Qwen2.5-VL-32B-Instruct, image_format: jpeg,
             jpeg_quality: 75}
  sampling: {temperature: 0.7, top_p: 0.9, max_tokens: 512, seed: 42}
"""


def old_form(config: dict) -> dict:
    """A config dict as the earlier version wrote it: the three reward maps, reward.pixel, the
    top-level judge section, train.logger."""
    old = {k: v for k, v in config.items()}
    components = config["reward"]["components"]
    target = {c["name"]: c.get("function") or c["name"] for c in components}
    old["reward"] = {k: v for k, v in config["reward"].items() if k != "components"}
    old["reward"]["weights"] = {c["name"]: c.get("weight", 1.0) for c in components}
    old["reward"]["functions"] = {c["name"]: c["function"] for c in components if c.get("function")}
    old["reward"]["options"] = {
        c["name"]: c["options"] for c in components if target[c["name"]] not in ("pixel", "judge")
    }
    old["reward"]["pixel"] = next((c["options"] for c in components if target[c["name"]] == "pixel"), {})
    old["judge"] = next((c["options"] for c in components if target[c["name"]] == "judge"), None)
    report_to = config["train"]["report_to"]
    old["train"] = {
        **{k: v for k, v in config["train"].items() if k != "report_to"},
        "logger": (report_to or ["none"])[0],
    }
    return old


def test_an_old_preset_loads_as_today_s_preset_with_a_notice_per_old_spelling(tmp_path, caplog):
    preset = yaml.safe_load((PRESETS_FOLDER / "kontext_reference.yaml").read_text())
    old = {k: v for k, v in preset.items() if k != "reward"} | yaml.safe_load(OLD_REFERENCE_REWARD)
    old["train"] = {**preset["train"], "logger": "tensorboard"}
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(old))
    with caplog.at_level(logging.WARNING, logger="cocoedit"):
        loaded = load_config(tmp_path / "old.yaml")
    assert loaded == load_config(PRESETS_FOLDER / "kontext_reference.yaml")
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 4 and all("\n" not in n for n in notices)
    assert "train.logger is the old name of train.report_to: read as report_to: ['tensorboard']" in notices
    assert any(
        n.startswith("reward.weights is the old form of reward.components") and "judge 0.9, pixel 0.1" in n
        for n in notices
    )
    assert any(n.startswith("reward.pixel is the old place") and "component pixel's options" in n for n in notices)
    assert any(n.startswith("the top-level judge section is the old place") for n in notices)


@pytest.mark.parametrize(("rank", "notices"), [("0", 1), ("3", 0)])
def test_only_the_first_process_of_a_launch_prints_the_notices(rank, notices, monkeypatch, caplog):
    monkeypatch.setenv("RANK", rank)
    with caplog.at_level(logging.WARNING, logger="cocoedit"):
        cfg = load_config(None, [], base=tiny_training_config(reward={"weights": {"pixel": 1.0}}))
    assert len(caplog.records) == notices and cfg.reward.weights == {"pixel": 1.0}


def test_the_three_maps_become_one_entry_per_component():
    cfg = load_config(
        None,
        [],
        base=tiny_training_config(
            reward={
                "weights": {"pixel": 0.5, "target": 0.5, "spare": 0},
                "functions": {"target": "cocoedit.testing.trainer.BrightnessTarget", "spare": "pixel"},
                "options": {"target": {"target": 0.6}, "spare": {"scorer": "reference"}},
            }
        ),
    )
    assert [(c.name, c.function, c.weight) for c in cfg.reward.components] == [
        ("pixel", None, 0.5),
        ("target", "cocoedit.testing.trainer.BrightnessTarget", 0.5),
        ("spare", "pixel", 0.0),
    ]
    assert cfg.reward.component("target").options == {"target": 0.6}
    assert cfg.reward.component("spare").options["scorer"] == "reference"


def test_a_component_s_own_options_win_over_the_old_section():
    reward = {
        "weights": {"pixel": 1.0},
        "options": {"pixel": {"psnr_weight": 0.9}},
        "pixel": {"psnr_weight": 0.65, "scorer": "reference"},
    }
    options = load_config(None, [], base=tiny_training_config(reward=reward)).reward.component("pixel").options
    assert (options["psnr_weight"], options["scorer"]) == (0.9, "reference")


def test_an_old_config_without_weights_had_the_judge_and_the_pixel_reward():
    judge = {"endpoint": {"model": "m"}}
    base = tiny_training_config(judge=judge)
    del base["reward"]
    cfg = load_config(None, [], base=base)
    assert cfg.reward.weights == {"judge": 0.8, "pixel": 0.2}
    assert cfg.reward.component("judge").options["endpoint"]["model"] == "m"


@pytest.mark.parametrize(
    ("logger", "report_to"), [("tensorboard", ["tensorboard"]), ("wandb", ["wandb"]), ("none", [])]
)
def test_train_logger_is_read_as_report_to(logger, report_to):
    base = tiny_training_config()
    base["train"] = {"epochs": 1, "logger": logger}
    assert load_config(None, [], base=base).train.report_to == report_to


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"train": {"report_to": [], "logger": "none"}}, "train.logger is the old name of train.report_to: give"),
        (
            {"reward": {"components": [{"name": "pixel"}], "weights": {"pixel": 1.0}}},
            r"reward.components and the old reward.weights describe the same components",
        ),
        (
            {"reward": {"weights": {"pixel": 1.0}, "options": {"judge": {}}}},
            r"reward.functions / reward.options name \['judge'\], which reward.weights does not weigh",
        ),
        ({"reward": {"weights": [1.0]}}, "reward.weights must be a mapping of component name to value"),
    ],
)
def test_mixed_or_broken_old_spellings_are_refused_in_one_line(sections, message):
    base = tiny_training_config()
    base.update(sections)
    with pytest.raises(ConfigError, match=message):
        load_config(None, [], base=base)


def test_a_run_folder_with_an_old_config_compares_as_today_s(tmp_path):
    judge = {"endpoint": {"base_url": "http://127.0.0.1:8000/v1", "model": "m"}, "cache_path": "cache.sqlite"}
    reward = {
        "components": [
            {"name": "judge", "weight": 0.7, "options": judge},
            {"name": "pixel", "weight": 0.3, "options": {"psnr_weight": 0.65, "ssim_weight": 0.35}},
            {"name": "target", "function": "cocoedit.testing.trainer:BrightnessTarget", "options": {"target": 0.6}},
        ]
    }
    config = load_config(None, [], base=tiny_training_config(reward=reward, train={"report_to": ["tensorboard"]}))
    saved = old_form(absolute_config(config))
    assert "components" not in saved["reward"] and saved["judge"]["cache_path"].startswith("/")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    check_resume(tmp_path, config, write=False)

    def resumed_with(*overrides):
        return load_config(None, list(overrides), base=tiny_training_config(reward=reward, train={"report_to": []}))

    # The judge's endpoint and the trackers may change on resume; weights and judge sampling may not.
    check_resume(tmp_path, resumed_with("reward.components.judge.options.endpoint.base_url=http://h:1/v1"), write=False)
    with pytest.raises(RunError, match=r"reward.components.pixel.weight: 0.3 -> 0.4"):
        check_resume(tmp_path, resumed_with("reward.components.pixel.weight=0.4"), write=False)
    with pytest.raises(RunError, match=r"reward.components.judge.options.sampling.temperature: 0.0 -> 0.5"):
        check_resume(tmp_path, resumed_with("reward.components.judge.options.sampling.temperature=0.5"), write=False)
    with pytest.raises(RunError, match=r"reward.components.target.options.target: 0.6 -> 0.7"):
        check_resume(tmp_path, resumed_with("reward.components.target.options.target=0.7"), write=False)


@pytest.mark.slow
def test_a_run_started_by_an_earlier_version_resumes(tmp_path):
    model = save_tiny_pipeline("kontext", tmp_path / "model")
    manifest = make_sample_manifest(tmp_path / "ds", samples=4, size=(64, 64))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_training_config(model, manifest)))
    runner = CliRunner()
    run = ["train", "--run-dir", str(tmp_path / "run")]
    assert runner.invoke(app, [*run, "--config", str(tmp_path / "config.yaml")]).exit_code == 0
    saved = tmp_path / "run" / "config.yaml"
    saved.write_text(yaml.safe_dump(old_form(yaml.safe_load(saved.read_text()))))
    result = runner.invoke(app, [*run, "--resume", "--set", "train.epochs=2"])
    assert result.exit_code == 0, result.output
    assert "reward.weights/functions/options are the old form of reward.components" in result.output
    assert "components" in yaml.safe_load(saved.read_text())["reward"]  # the run's records are in today's form now


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("judge.endpoint.base_url=http://127.0.0.1:9/v1", "reward.components.judge.options.endpoint"),
        ("reward.pixel.psnr_weight=0.3", "reward.components.pixel.options.psnr_weight"),
    ],
)
def test_an_old_section_beside_todays_components_is_refused_not_ignored(override, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config("tiny", [override])
