"""``cocoedit train`` checks its inputs before any model loads, a start that failed leaves nothing
in the way of the corrected command, and wandb gets its settings and keeps one run across resumes."""

import sys
import types

import pytest
import torch
import yaml
from typer.testing import CliRunner

import cocoedit.models.registry
from cocoedit.cli import app
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline
from cocoedit.testing.trainer import tiny_training_config

runner = CliRunner()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("train-inputs")
    return save_tiny_pipeline("kontext", root / "model"), make_sample_manifest(root / "ds", samples=4, size=(64, 64))


DOWN = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "max_retries": 0}


def config(inputs, **sections):
    return tiny_training_config(*inputs, **sections)


def reward_config(inputs, *components, **sections):
    return config(inputs, reward={"components": list(components)}, **sections)


def train(tmp_path, cfg, *extra, run="run"):
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return runner.invoke(app, ["train", "--config", str(path), "--run-dir", str(tmp_path / run), *extra])


@pytest.fixture
def no_model_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr(cocoedit.models.registry, "load_backbone", refuse)


def test_bad_inputs_are_named_before_a_model_loads(inputs, tmp_path, no_model_loading):
    cases = [
        (config(inputs, data={"manifest": str(tmp_path / "missing.jsonl")}), "missing.jsonl"),
        (reward_config(inputs, {"name": "ocr"}), "reward component 'ocr': 'ocr' is not a built-in reward"),
        (reward_config(inputs, {"name": "x", "function": "no_such_pkg:f"}), "cannot import no_such_pkg"),
        (
            reward_config(inputs, {"name": "judge", "options": {"endpoint": DOWN}}),
            "judge server at http://127.0.0.1:9/v1 is not reachable",
        ),
        (config(inputs, train={"report_to": ["tensorboard", "wandb"]}), "the wandb package is not installed"),
        (config(inputs, train={"epochs": 1, "device": "tpu9"}), "train.device 'tpu9' is not a device"),
        (config(inputs, train={"epochs": 1, "device": "cuda:x"}), "train.device 'cuda:x' is not a device"),
        (
            config(inputs, model={"backbone_options": {"max_sequence_length": 48, "foo": 1}}),
            "model.backbone_options: kontext: unknown backbone option 'foo' (accepted: max_sequence_length)",
        ),
        (
            config(inputs, model={"height": 60}),
            "model.height, model.width: kontext: working size 60x64 must be positive multiples of 16",
        ),
        (config(inputs, model={"height": 100000}), "model.height: Input should be less than or equal to 4096"),
    ]
    if not torch.cuda.is_available():
        cases.append(
            (
                config(inputs, train={"epochs": 1, "device": "cuda"}),
                "train.device is 'cuda' but this machine has no usable CUDA GPU",
            )
        )
    for cfg, message in cases:
        result = train(tmp_path, cfg)
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split()), (message, result.output)
    (tmp_path / "done" / "checkpoints" / "step-000001").mkdir(parents=True)
    (tmp_path / "done" / "checkpoints" / "step-000001" / "checkpoint.json").write_text("{}")
    result = train(tmp_path, config(inputs), run="done")
    assert result.exit_code == 2 and "already holds a run; pass --resume" in result.output
    result = runner.invoke(app, ["train", "--resume", "--run-dir", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no config.yaml" in result.output


@pytest.mark.slow
def test_a_failed_start_does_not_block_the_corrected_command(inputs, tmp_path):
    # A judge that answers nonsense: the first epoch stops the run, after its records were written.
    with ScriptedJudgeServer(ScriptedReply(text="no idea")) as server:
        judge = {"endpoint": {"base_url": server.base_url, "model": server.model, "max_retries": 0}, "parse_retries": 0}
        result = train(tmp_path, reward_config(inputs, {"name": "judge", "options": judge}))
    assert result.exit_code == 2 and "could not score 4 of 4 samples" in result.output
    assert (tmp_path / "run" / "config.yaml").is_file()
    result = train(tmp_path, config(inputs))  # the corrected command: no --resume needed, nothing in the way
    assert result.exit_code == 0, result.output
    components = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["reward"]["components"]
    assert [(c["name"], c["weight"]) for c in components] == [("pixel", 1.0)]


class FakeWandb(types.ModuleType):
    """Stands in for the wandb package (not a dependency): records what the logger asks of it."""

    def __init__(self):
        super().__init__("wandb")
        self.inits, self.logged = [], []

    def init(self, **kwargs):
        self.inits.append(kwargs)
        module = self

        class Run:
            def log(self, values, step):
                module.logged.append((step, values))

            def finish(self):
                pass

        return Run()

    def Image(self, array):  # noqa: N802 - wandb's name
        return array


@pytest.mark.slow
def test_wandb_gets_its_settings_and_a_resume_logs_into_the_same_run(inputs, tmp_path, monkeypatch):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object() if name == "wandb" else None)
    cfg = config(
        inputs,
        train={
            "epochs": 1,
            "report_to": ["wandb"],
            "checkpoint_every": 1,
            "wandb": {"project": "cocoedit-tests", "entity": "lab", "name": "tiny", "tags": ["cpu"]},
        },
    )
    assert train(tmp_path, cfg).exit_code == 0
    result = runner.invoke(app, ["train", "--resume", "--run-dir", str(tmp_path / "run"), "--set", "train.epochs=2"])
    assert result.exit_code == 0, result.output
    first, second = fake.inits
    assert {k: first[k] for k in ("project", "entity", "name", "tags")} == {
        "project": "cocoedit-tests",
        "entity": "lab",
        "name": "tiny",
        "tags": ["cpu"],
    }
    assert (
        first["id"] == second["id"] == (tmp_path / "run" / "wandb_run_id").read_text() and second["resume"] == "allow"
    )
    assert [step for step, _ in fake.logged if "loss/policy" in _] == [1, 2]


def test_a_judge_down_at_start_is_one_line(inputs, tmp_path, no_model_loading):
    result = train(tmp_path, reward_config(inputs, {"name": "judge", "options": {"endpoint": DOWN}}))
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0, result.output
    assert result.output.startswith("error: judge server at http://127.0.0.1:9/v1 is not reachable")
