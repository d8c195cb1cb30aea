"""End to end on CPU: tiny Kontext and Qwen-Image-Edit train with the pixel reward and a judge
served over HTTP by the scripted local server."""

import hashlib
import math

import pytest
import torch

from cocoedit.judge.config import EndpointConfig
from cocoedit.rewards.mllm import JudgeReward, MLLMReward, MLLMRewardConfig
from cocoedit.rewards.pixel import PixelReward
from cocoedit.rl.checkpoint import list_checkpoints, read_trainer_state
from cocoedit.rl.logging import read_metrics
from cocoedit.rl.trainer import CocoEditTrainer
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply


def judge_script(body, index):
    """Scores from a hash of the edited image (deterministic); one instruction gets garbage."""
    content = body["messages"][0]["content"]
    text = content[-1]["text"]
    if "posterised" in text:  # the 'style' samples: the judge cannot answer
        return ScriptedReply(text="I am not sure what to say.")
    edited = [c for c in content if c["type"] == "image_url"][-1]["image_url"]["url"]
    h = int(hashlib.sha256(edited.encode()).hexdigest(), 16)
    return ScriptedReply(text=f"Editing effect: {h % 6}\nVisual quality: {(h // 6) % 6}")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["kontext", "qwen-image-edit"])
def test_training_runs_with_pixel_and_judge_rewards(
    kind, train_samples, tmp_path, make_backbone, make_config, brightness_reward
):
    backbone = make_backbone(kind)
    judge_options = {"endpoint": {"model": "scripted-judge"}}
    cfg = make_config(
        reward={
            "components": [
                {"name": "judge", "weight": 0.6, "options": judge_options},
                {"name": "pixel", "weight": 0.2},
                {"name": "brightness", "weight": 0.2},
            ],
            "max_unscored_fraction": 1.0,
        },
        sampling={"prompts_per_epoch": 3},
    )
    with ScriptedJudgeServer(judge_script) as server:
        judge = MLLMReward(
            MLLMRewardConfig(
                endpoint=EndpointConfig(base_url=server.base_url, model=server.model, max_retries=0), parse_retries=0
            )
        )
        rewards = {"judge": JudgeReward(judge), "pixel": PixelReward(40, 0.5, 0.5), "brightness": brightness_reward}
        trainer = CocoEditTrainer(cfg, tmp_path, backbone, train_samples, rewards, validation_samples=train_samples[:2])
        initial = [p.detach().clone() for p in trainer.current]
        initial_by_name = [
            p
            for _, p in sorted(
                zip(
                    [
                        n.replace(".default.", ".<adapter>.")
                        for n, q in backbone.transformer.named_parameters()
                        if "lora_" in n and ".default." in n
                    ],
                    initial,
                    strict=True,
                )
            )
        ]
        trainer.train()
        assert len(server.requests) >= 3 * 3 * 3  # every rollout (plus validation) was judged

    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2, 3]
    for row in rows:
        for key in ("loss/policy", "loss/kl", "loss/keep_region", "loss/edit_region", "train/grad_norm"):
            assert math.isfinite(row[key]), (key, row)
        # The unanswerable samples are excluded, never scored: validity follows the judge.
        assert row["train/valid_fraction"] <= row["reward/scored_fraction"]
    assert any(r["reward/scored_fraction"] < 1 for r in rows)
    assert rows[-1]["val/keep_psnr"] > 0
    assert any(not torch.equal(a, b.detach()) for a, b in zip(initial, trainer.current, strict=True))

    # The old adapter follows the reference's schedule, decay from the step just completed:
    # after step 1 it is 0.001 initial + 0.999 current; after step 2, 0.002 old + 0.998 current.
    states = {step: read_trainer_state(path) for step, path in list_checkpoints(tmp_path / "checkpoints")}
    names = sorted(states[1].current)
    for n, p0 in zip(names, initial_by_name, strict=True):
        assert torch.allclose(states[1].old[n], 0.001 * p0 + 0.999 * states[1].current[n], atol=1e-7)
        assert torch.allclose(states[2].old[n], 0.002 * states[1].old[n] + 0.998 * states[2].current[n], atol=1e-7)
    assert (tmp_path / "checkpoints" / "step-000003" / "lora" / "pytorch_lora_weights.safetensors").is_file()
    assert (tmp_path / "samples" / "step-000002.png").is_file()


@pytest.mark.slow
def test_saved_lora_loads_into_the_stock_pipeline(
    train_samples, tmp_path, make_backbone, make_config, brightness_reward
):
    from cocoedit.testing.tiny import build_tiny_pipeline

    backbone = make_backbone("kontext")
    cfg = make_config(train={"epochs": 2, "checkpoint_every": 2})
    CocoEditTrainer(
        cfg, tmp_path, backbone, train_samples, {"pixel": PixelReward(40, 0.5, 0.5), "brightness": brightness_reward}
    ).train()
    stock = build_tiny_pipeline("kontext")
    image = train_samples[0].source
    from PIL import Image

    kwargs = dict(
        image=Image.open(image),
        prompt="make it blue",
        height=64,
        width=64,
        max_area=64 * 64,
        _auto_resize=False,
        num_inference_steps=2,
        guidance_scale=2.5,
        max_sequence_length=48,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )
    before = stock(**kwargs).images
    stock.load_lora_weights(str(tmp_path / "checkpoints" / "step-000002" / "lora"))
    kwargs["generator"] = torch.Generator().manual_seed(0)
    after = stock(**kwargs).images
    assert not torch.equal(before, after)
