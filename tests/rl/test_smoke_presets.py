"""The smoke presets run as shipped on tiny models: each preset's own settings (sampling, batches,
steps, precision, regularizers, schedule) with the model and data paths pointed at tiny ones, a 64²
working size, and the first two steps (to the first checkpoint, with a validation); with its judge
(a scripted server) and judge-free with the `--set` lines its header gives."""

import hashlib
import re
import shlex
from pathlib import Path

import pytest

from cocoedit.core.presets import PRESETS_FOLDER
from cocoedit.rl.config import load_config
from cocoedit.rl.logging import read_metrics
from cocoedit.rl.trainer import CocoEditTrainer
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline

SMOKE = {"kontext_smoke": "kontext", "qwen_image_edit_2509_smoke": "qwen-image-edit-plus"}


def header_overrides(path: Path) -> list[str]:
    """The ``--set`` values of the judge-free lines in a preset's header comment."""
    header = " ".join(line.lstrip("# ").rstrip("\\ ") for line in path.read_text().splitlines() if line.startswith("#"))
    words = shlex.split(header[header.index("Judge-free") :])
    return [words[i + 1] for i, w in enumerate(words) if w == "--set"]


def by_image(body, index):
    """Scores from a hash of the edited image, so that groups vary as a real judge's do."""
    edited = [c for c in body["messages"][0]["content"] if c["type"] == "image_url"][-1]["image_url"]["url"]
    h = int(hashlib.sha256(edited.encode()).hexdigest(), 16)
    return ScriptedReply(text=f"Editing effect: {h % 6}\nVisual quality: {(h // 6) % 6}")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return make_sample_manifest(tmp_path_factory.mktemp("smoke-data"), samples=6, size=(64, 64))


@pytest.mark.parametrize("name", SMOKE)
def test_smoke_presets_say_they_need_one_gpu_and_how_to_go_judge_free(name):
    path = PRESETS_FOLDER / f"{name}.yaml"
    first = path.read_text().splitlines()[0]
    assert re.search(r"ONE 80 GB GPU", first)
    config = load_config(path, header_overrides(path))
    assert "judge" not in config.reward.weights
    assert config.reward.component("change").function == "cocoedit.rewards.edit_change.EditRegionChange"
    shipped = load_config(path)
    assert shipped.train.epochs <= 4 and shipped.train.checkpoint_every == 2  # 2 to 4 steps, a checkpoint at 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "judge_free"),
    [("kontext_smoke", False), ("qwen_image_edit_2509_smoke", True)],
    ids=["kontext-judge", "qwen-judge-free"],
)
def test_smoke_preset_runs_on_tiny_models_with_its_own_settings(tmp_path, manifest, name, judge_free):
    path = PRESETS_FOLDER / f"{name}.yaml"
    model = save_tiny_pipeline(SMOKE[name], tmp_path / "model")
    tiny = [f"model.path={model}", f"data.manifest={manifest}", f"data.validation_manifest={manifest}"]
    tiny += ["model.height=64", "model.width=64", "train.report_to=[]", "train.epochs=2"]
    # A random tiny model's samples barely differ within a group: no group would count as informative.
    tiny.append("advantage.std_threshold=0.0")
    if SMOKE[name] == "kontext":
        tiny.append("model.backbone_options.max_sequence_length=48")  # the tiny T5's tokenizer is short
    with ScriptedJudgeServer(by_image) as server:
        judge = "reward.components.judge.options.endpoint"
        overrides = tiny + [f"{judge}.base_url={server.base_url}", f"{judge}.model={server.model}"]
        if judge_free:  # the judge's options go with the components the header's lines replace
            overrides = tiny
        config = load_config(path, overrides + (header_overrides(path) if judge_free else []))
        CocoEditTrainer.from_config(config, tmp_path / "run").train()
        judged = len(server.requests)
    shipped = load_config(path)
    rows = read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [1, 2] and all(r["train/stepped"] == 1.0 for r in rows)
    assert (tmp_path / "run" / "checkpoints" / "step-000002" / "lora").is_dir()
    assert "val/combined" in rows[1] and "val/combined" not in rows[0]  # validated at the first checkpoint
    component = "change" if judge_free else "judge"
    assert all(0 <= r[f"reward/{component}"] <= 1 for r in rows)  # scored, not NaN
    samples = shipped.sampling.prompts_per_epoch * shipped.sampling.group_size
    assert judged == (0 if judge_free else 2 * samples + shipped.data.validation_samples)
