"""The smoke presets run as shipped on tiny models: each preset's own settings (sampling, batches,
steps, precision, regularizers, schedule) with the model and data paths pointed at tiny ones, a 64²
working size, and the first two steps (to the first checkpoint, with a validation); with its judge
(a scripted server) or judge-free with the `--set` lines its header gives. Each smoke preset is its
full preset but for the run's length and a 7B judge."""

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
from cocoedit.testing.tiny import build_tiny_pipeline, build_tiny_qwen_image_edit_plus

# smoke preset -> (its full preset, the tiny model's kind)
SMOKE = {
    "kontext_smoke": ("kontext", "kontext"),
    "qwen_image_edit_2509_smoke": ("qwen_image_edit_2509", "qwen-image-edit-plus"),
    "flux2_klein_smoke": ("flux2_klein", "flux2-klein"),
    "flux2_dev_smoke": ("flux2_dev", "flux2"),
    "qwen_image_2.1_smoke": ("qwen_image_2.1", "qwen-image-2.1"),
    "qwen_image_edit_2511_smoke": ("qwen_image_edit_2511", "qwen-image-edit-plus"),
}
# What only makes a run CPU-sized, per kind: the tiny T5 tokenizer is short; FLUX.2's 512 padded
# text tokens and a 384² vision-language image would only make the tiny runs slower.
CPU_SIZED = {
    "kontext": ["model.backbone_options.max_sequence_length=48"],
    "flux2-klein": ["model.backbone_options.max_sequence_length=48"],
    "flux2": ["model.backbone_options.max_sequence_length=48"],
    "qwen-image-edit-plus": ["model.backbone_options.condition_area=3136"],
}
# What a smoke preset may set otherwise than its full preset: the run's length and batches, a
# validation on the training file, the 7B judge's endpoint, and where the text encoder lives (FLUX.2
# [dev]'s on the CPU, so that the smoke run fits one 80 GB GPU).
RUN_LENGTH = {
    "data.validation_manifest",
    "data.validation_samples",
    "sampling.prompts_per_epoch",
    "sampling.group_size",
    "sampling.batch_size",
    "optim.train_batch_size",
    "train.epochs",
    "train.checkpoint_every",
    "train.keep_last",
    "train.validate_every",
    "train.sample_grid_every",
    "reward.components.judge.options.endpoint",
    "model.backbone_options.text_encoder_on_cpu",
}


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


def flatten(data: dict, prefix: str = "") -> dict:
    """Dotted keys; reward components by name."""
    out = {}
    for key, value in data.items():
        if key == "components":
            value = {c["name"]: c for c in value}
        if isinstance(value, dict) and key != "endpoint":
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return make_sample_manifest(tmp_path_factory.mktemp("smoke-data"), samples=6, size=(64, 64))


@pytest.mark.parametrize("name", SMOKE)
def test_smoke_presets_name_their_gpu_and_how_to_go_judge_free(name):
    path = PRESETS_FOLDER / f"{name}.yaml"
    first = path.read_text().splitlines()[0]
    assert re.search(r"ONE (80|141) GB GPU", first)
    shipped = load_config(path)
    config = load_config(path, header_overrides(path))
    assert "judge" not in config.reward.weights and config.reward.component("change").target.endswith(
        "edit_change.EditRegionChange"
    )
    # The judge-free mix keeps the preset's weights, the change reward in the judge's place.
    swapped = {("change" if k == "judge" else k): w for k, w in shipped.reward.weights.items()}
    assert config.reward.weights == swapped
    assert config.reward.component("pixel").options == shipped.reward.component("pixel").options
    assert 2 <= shipped.train.epochs <= 4 and shipped.train.checkpoint_every == 2  # 2 to 4 steps, a checkpoint at 2
    assert shipped.train.validate_every == 2 and shipped.data.validation_manifest


@pytest.mark.parametrize("name", SMOKE)
def test_smoke_preset_is_its_full_preset_but_for_the_runs_length(name):
    full, _ = SMOKE[name]
    ours = flatten(load_config(PRESETS_FOLDER / f"{name}.yaml").model_dump(mode="json"))
    theirs = flatten(load_config(PRESETS_FOLDER / f"{full}.yaml").model_dump(mode="json"))
    differs = {k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k)}
    assert differs <= RUN_LENGTH, differs - RUN_LENGTH
    assert ours["reward.components.judge.options.endpoint"]["model"] == "Qwen/Qwen2.5-VL-7B-Instruct"


def save_tiny(kind: str, name: str, folder: Path) -> Path:
    # Qwen-Image-Edit-2511 is the Plus pipeline whose transformer modulates the source at t = 0.
    pipe = build_tiny_qwen_image_edit_plus(zero_cond_t=True) if "2511" in name else build_tiny_pipeline(kind)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "judge_free"),
    [
        ("kontext_smoke", False),
        ("qwen_image_edit_2509_smoke", True),
        ("flux2_klein_smoke", False),
        ("flux2_dev_smoke", True),
        ("qwen_image_2.1_smoke", False),
        ("qwen_image_edit_2511_smoke", True),
    ],
    ids=lambda v: {True: "judge-free", False: "judge"}.get(v, v) if isinstance(v, bool) else v,
)
def test_smoke_preset_runs_on_tiny_models_with_its_own_settings(tmp_path, manifest, name, judge_free):
    path = PRESETS_FOLDER / f"{name}.yaml"
    kind = SMOKE[name][1]
    model = save_tiny(kind, name, tmp_path / "model")
    tiny = [f"model.path={model}", f"data.manifest={manifest}", f"data.validation_manifest={manifest}"]
    tiny += ["model.height=64", "model.width=64", "train.report_to=[]", "train.epochs=2", *CPU_SIZED.get(kind, [])]
    # A random tiny model's samples barely differ within a group: no group would count as informative.
    tiny.append("advantage.std_threshold=0.0")
    with ScriptedJudgeServer(by_image) as server:
        endpoint = "reward.components.judge.options.endpoint"
        overrides = tiny + [f"{endpoint}.base_url={server.base_url}", f"{endpoint}.model={server.model}"]
        config = load_config(path, overrides + (header_overrides(path) if judge_free else []))
        CocoEditTrainer.from_config(config, tmp_path / "run").train()
        judged = len(server.requests)
    shipped = load_config(path)
    rows = read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [1, 2] and all(r["train/stepped"] == 1.0 for r in rows)
    assert (tmp_path / "run" / "checkpoints" / "step-000002" / "lora").is_dir()
    # Validated at step 2, the first checkpoint (and, here, the last step), not at step 1.
    assert "val/combined" in rows[1] and "val/combined" not in rows[0]
    component = "change" if judge_free else "judge"
    assert all(0 <= r[f"reward/{component}"] <= 1 for r in rows)  # scored, not NaN
    samples = shipped.sampling.prompts_per_epoch * shipped.sampling.group_size
    assert judged == (0 if judge_free else 2 * samples + shipped.data.validation_samples)
