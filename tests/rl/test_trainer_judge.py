"""The MLLM judge during training, served over HTTP by the scripted server: failures are excluded
and counted per reason (metrics and TensorBoard), the failure limit applies to the epoch, too many
failures stop the run after a checkpoint, and a judge that goes away stops ``cocoedit train`` with
one line after a checkpoint; ``--resume`` then ends where an uninterrupted run ends."""

import hashlib
import json
import threading
import time

import pytest
import torch
import yaml
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.rl.checkpoint import latest_checkpoint, list_checkpoints, read_trainer_state
from cocoedit.rl.config import load_config
from cocoedit.rl.logging import read_metrics
from cocoedit.rl.trainer import CocoEditTrainer, RewardFailureError
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline
from cocoedit.testing.trainer import tiny_training_config


def by_image(body, index):
    """Scores from a hash of the edited image: the same image always gets the same answer."""
    content = body["messages"][0]["content"]
    edited = [c for c in content if c["type"] == "image_url"][-1]["image_url"]["url"]
    h = int(hashlib.sha256(edited.encode()).hexdigest(), 16)
    return ScriptedReply(text=f"Editing effect: {h % 6}\nVisual quality: {(h // 6) % 6}")


def failing_every(n):
    def script(body, index):
        return ScriptedReply(text="no idea") if index % n == n - 1 else by_image(body, index)

    return script


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("judge-train")
    return save_tiny_pipeline("kontext", root / "model"), make_sample_manifest(root / "ds", samples=8, size=(64, 64))


def config_dict(inputs, base_url, epochs=3, **train):
    model, manifest = inputs
    judge = {
        "endpoint": {
            "base_url": base_url,
            "model": "scripted-judge",
            "max_retries": 0,
            "backoff_s": 0.05,
            "unreachable_timeout_s": 1.0,
        },
        "parse_retries": 0,
    }
    return tiny_training_config(
        model,
        manifest,
        sampling={"prompts_per_epoch": 8, "group_size": 3, "batch_size": 3},
        reward={"components": [{"name": "judge", "weight": 1.0, "options": judge}]},
        optim={"lr": 1e-3, "train_batch_size": 3},
        train={"epochs": epochs, "checkpoint_every": 10, "validate_every": 100, "sample_grid_every": 100, **train},
    )


@pytest.mark.slow
def test_failures_are_excluded_counted_and_limited_per_epoch(inputs, tmp_path):
    # One call in 23 gets an unparsable reply: at batch size 3 a per-batch limit of 25 % would stop
    # the run at the first failure; over the epoch's 24 samples it is 4 %.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with ScriptedJudgeServer(failing_every(23)) as server:
        config = load_config(None, [], base=config_dict(inputs, server.base_url, epochs=2, report_to=["tensorboard"]))
        CocoEditTrainer.from_config(config, tmp_path / "run").train()
    rows = read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [1, 2]
    failed = [r.get("reward_unscored/judge/unparsable", 0) for r in rows]
    assert sum(failed) == 2 and all(r["reward_unscored/judge"] == f for r, f in zip(rows, failed, strict=True))
    for r in rows:
        assert r["reward/scored_fraction"] == pytest.approx(1 - r["reward_unscored/judge"] / 24)
        assert r["train/valid_fraction"] <= r["reward/scored_fraction"]  # failures are excluded, never scored
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert [e.value for e in events.Scalars("reward_unscored/judge")] == [float(f) for f in failed]


@pytest.mark.slow
def test_too_many_failures_stop_the_run_after_a_checkpoint_saying_why(inputs, tmp_path):
    def script(body, index):  # epoch 1 answers; from epoch 2 on, half the replies are unusable
        if index >= 24 and index % 2:
            return ScriptedReply(status=500) if index % 4 == 1 else ScriptedReply(text="no idea")
        return by_image(body, index)

    with ScriptedJudgeServer(script) as server:
        config = load_config(None, [], base=config_dict(inputs, server.base_url))
        with pytest.raises(RewardFailureError) as stop:
            CocoEditTrainer.from_config(config, tmp_path / "run").train()
    message = str(stop.value)
    assert message.startswith(
        "epoch 2: reward 'judge' could not score 12 of 24 samples (50% > reward.max_unscored_fraction 0.25): "
        "http_500 x6, unparsable x6. "
    )
    # The server's own words and the reply that did not parse, not only their counts.
    assert "Last explanation: HTTP 500: scripted HTTP 500 (after 1 attempts)" in message
    assert "one unparsable reply: " in message and "reply: 'no idea'" in message
    assert [step for step, _ in list_checkpoints(tmp_path / "run" / "checkpoints")] == [1]
    records = [json.loads(line) for line in (tmp_path / "run" / "reward_failures.jsonl").read_text().splitlines()]
    assert len(records) == 12 and {r["step"] for r in records} == {2} and {r["component"] for r in records} == {"judge"}
    assert sorted(r["reason"] for r in records) == ["http_500"] * 6 + ["unparsable"] * 6
    assert all(r["sample_id"] and r["detail"] for r in records)


def _stop_after(server, requests):
    def watch():
        while len(server.requests) < requests:
            time.sleep(0.01)
        server.stop()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_an_unreachable_judge_stops_with_one_line_and_resume_continues(inputs, tmp_path):
    with ScriptedJudgeServer(by_image) as server:
        whole = load_config(None, [], base=config_dict(inputs, server.base_url))
        CocoEditTrainer.from_config(whole, tmp_path / "whole").train()
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config_dict(inputs, f"http://127.0.0.1:{port}/v1")))
    runner = CliRunner()
    server = ScriptedJudgeServer(by_image, port=port).start()
    watcher = _stop_after(server, 2 * 24 + 1)  # the judge goes away at the first call of epoch 3
    result = runner.invoke(app, ["train", "--config", str(config_path), "--run-dir", str(tmp_path / "run")])
    watcher.join(10)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if "error" in line]
    assert len(errors) == 1 and "unreachable for" in errors[0] and "Traceback" not in result.output
    assert read_trainer_state(latest_checkpoint(tmp_path / "run" / "checkpoints")).step == 2
    with ScriptedJudgeServer(by_image, port=port):
        result = runner.invoke(app, ["train", "--resume", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    a = read_trainer_state(latest_checkpoint(tmp_path / "whole" / "checkpoints"))
    b = read_trainer_state(latest_checkpoint(tmp_path / "run" / "checkpoints"))
    assert a.step == b.step == 3
    assert all(torch.equal(a.current[k], b.current[k]) for k in a.current)
