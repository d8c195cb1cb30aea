"""``train.report_to``: any subset of TensorBoard and wandb, both at once, or neither; each gets
every scalar and sample grid, ``metrics.jsonl`` always; a tracker that is not installed is
refused by name before anything is written."""

import importlib.util
import sys
import types

import pytest
import torch

from cocoedit.rl.config import ConfigError, load_config
from cocoedit.rl.logging import MetricsFileError, RunLogger, check_trackers, read_metrics
from cocoedit.testing.trainer import tiny_training_config


class FakeWandb(types.ModuleType):
    """Stands in for the wandb package (not a dependency): records what the logger asks of it."""

    def __init__(self):
        super().__init__("wandb")
        self.inits, self.logged, self.finished = [], [], 0

    def init(self, **kwargs):
        self.inits.append(kwargs)
        module = self

        class Run:
            def log(self, values, step):
                module.logged.append((step, values))

            def finish(self):
                module.finished += 1

        return Run()

    def Image(self, array):  # noqa: N802 - wandb's name
        return ("image", tuple(array.shape))


@pytest.fixture
def fake_wandb(monkeypatch):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: object() if name == "wandb" else real_find_spec(name)
    )
    return fake


def tensorboard_scalars(folder, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)], events.Tags()["images"]


def test_tensorboard_and_wandb_at_once_get_every_scalar_and_grid(tmp_path, fake_wandb):
    logger = RunLogger(tmp_path, ["tensorboard", "wandb"], config={"a": 1}, wandb={"project": "p", "tags": []})
    logger.log(1, {"loss/policy": 0.5, "reward/pixel": 0.25})
    logger.log(2, {"loss/policy": 0.25, "reward/pixel": float("nan")})
    logger.log_image(2, "samples", torch.rand(3, 8, 8))
    logger.close()
    scalars, images = tensorboard_scalars(tmp_path / "tensorboard", "loss/policy")
    assert scalars == [(1, 0.5), (2, 0.25)] and images == ["samples"]
    assert [(step, v.get("loss/policy")) for step, v in fake_wandb.logged if "loss/policy" in v] == [
        (1, 0.5),
        (2, 0.25),
    ]
    assert (2, {"samples": ("image", (8, 8, 3))}) in fake_wandb.logged
    assert fake_wandb.inits[0]["project"] == "p" and "tags" not in fake_wandb.inits[0] and fake_wandb.finished == 1
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]


def test_no_tracker_writes_metrics_only(tmp_path, fake_wandb):
    logger = RunLogger(tmp_path, [])
    logger.log(1, {"loss/policy": 0.5})
    logger.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"] and not fake_wandb.inits


def test_wandb_alone_writes_no_tensorboard_files(tmp_path, fake_wandb):
    logger = RunLogger(tmp_path, ["wandb"])
    logger.log(1, {"loss/policy": 0.5})
    logger.close()
    assert not (tmp_path / "tensorboard").exists() and fake_wandb.logged == [(1, {"loss/policy": 0.5})]


def test_a_tracker_that_is_not_installed_is_refused_naming_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "wandb" else object())
    with pytest.raises(
        MetricsFileError, match=r"report_to has wandb but the wandb package is not installed: .*\['tensorboard'\]"
    ):
        check_trackers(["tensorboard", "wandb"])
    with pytest.raises(MetricsFileError, match="not installed"):
        RunLogger(tmp_path, ["wandb"])
    assert not (tmp_path / "metrics.jsonl").exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("[tensorboard, wandb]", ["tensorboard", "wandb"]), ("wandb", ["wandb"]), ("none", []), ("[]", [])],
)
def test_report_to_takes_a_list_one_name_or_none(value, expected):
    assert load_config(None, [f"train.report_to={value}"], base=tiny_training_config()).train.report_to == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[tensorboard, mlflow]", r"train.report_to: unknown tracker 'mlflow' \(choose from tensorboard, wandb\)"),
        ("[wandb, wandb]", "train.report_to: names wandb twice"),
    ],
)
def test_unknown_or_repeated_trackers_are_refused(value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [f"train.report_to={value}"], base=tiny_training_config())
