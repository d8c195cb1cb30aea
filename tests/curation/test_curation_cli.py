"""`cocoedit data import / build / stats` on the command line; the result passes `data validate`."""

import json

import yaml
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.presets import PRESETS_FOLDER
from cocoedit.curation.config import load_build_config
from cocoedit.data.manifest import read_manifest
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply

from .conftest import known_box_reply, prompt_of

CONFIGS = PRESETS_FOLDER
runner = CliRunner()


def _import(pair_jsonl, out):
    return runner.invoke(
        app,
        [
            "data",
            "import",
            str(pair_jsonl),
            "--out",
            str(out),
            "--source-col",
            "src",
            "--target-col",
            "tgt",
            "--instruction-col",
            "prompt",
            "--id-col",
            "uid",
            "--edit-type-col",
            "kind",
        ],
    )


def test_import_build_stats_validate(pair_jsonl, tmp_path):
    result = _import(pair_jsonl, tmp_path / "imported")
    assert result.exit_code == 0, result.output
    assert "8 imported, 0 skipped" in result.output
    result = runner.invoke(
        app,
        [
            "data",
            "build",
            "--config",
            "curation_pairs_difference",
            "--in",
            str(tmp_path / "imported" / "manifest.jsonl"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "8/8 samples decided: kept 8 · dropped 0 · failed 0" in result.output
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "out" / "manifest.jsonl")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["data", "stats", str(tmp_path / "out")])
    assert result.exit_code == 0 and "8 samples: kept 8, dropped 0, failed 0" in result.output
    assert (tmp_path / "out" / "stats.html").is_file()


def test_the_cocoedit_preset_through_the_cli_with_a_served_vlm(pair_jsonl, tmp_path):
    assert _import(pair_jsonl, tmp_path / "imported").exit_code == 0

    def reply(body, index):
        prompt = prompt_of(body)
        i = int(prompt.split("object number ")[1].split()[0])
        if "bounding box" in prompt:
            return ScriptedReply(text=known_box_reply(i))
        if "Rewrite" in prompt:
            return ScriptedReply(
                text=json.dumps({"instruction": f"change the object number {i} on the left to a vase"})
            )
        return ScriptedReply(text="Instruction clarity: 5\nMask accuracy: 4\nTarget prominence: 4")

    with ScriptedJudgeServer(reply) as server:
        result = runner.invoke(
            app,
            [
                "data",
                "build",
                "--config",
                str(CONFIGS / "curation_local_edits.yaml"),
                "--in",
                str(tmp_path / "imported" / "manifest.jsonl"),
                "--out",
                str(tmp_path / "out"),
                "--model",
                server.model,
                "--base-url",
                server.base_url,
                "--workers",
                "4",
            ],
        )
    assert result.exit_code == 0, result.output
    samples = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert len(samples) == 8 and all("on the left to a vase" in s.instruction for s in samples)
    assert runner.invoke(app, ["data", "validate", str(tmp_path / "out" / "manifest.jsonl")]).exit_code == 0


def test_build_errors_are_clear(candidates, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"annotate": {"methd": "difference"}}))
    result = runner.invoke(
        app, ["data", "build", "--config", str(bad), "--in", str(candidates), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "unknown key 'annotate.methd' (did you mean 'annotate.method'?)" in result.output
    result = runner.invoke(
        app,
        [
            "data",
            "build",
            "--config",
            str(CONFIGS / "curation_local_edits.yaml"),
            "--in",
            str(candidates),
            "--out",
            str(tmp_path / "o2"),
        ],
    )
    assert result.exit_code == 2 and "give --model" in result.output
    assert not (tmp_path / "o2").exists()  # nothing written: the corrected command is free to run
    # nothing listens on this port: the health check fails before any sample is touched
    result = runner.invoke(
        app,
        [
            "data",
            "build",
            "--config",
            str(CONFIGS / "curation_local_edits.yaml"),
            "--in",
            str(candidates),
            "--out",
            str(tmp_path / "o3"),
            "--model",
            "m",
            "--base-url",
            "http://127.0.0.1:9/v1",
        ],
    )
    assert result.exit_code == 2 and "not reachable" in result.output
    assert not (tmp_path / "o3" / "records.jsonl").exists() and not (tmp_path / "o3" / "build_config.json").exists()


def test_a_build_whose_samples_all_failed_exits_1_with_the_counts(candidates, tmp_path):
    args = [
        "data",
        "build",
        "--config",
        str(CONFIGS / "curation_local_edits.yaml"),
        "--in",
        str(candidates),
        "--out",
        str(tmp_path / "o"),
    ]
    with ScriptedJudgeServer(ScriptedReply(text="no boxes here")) as server:
        result = runner.invoke(app, [*args, "--model", server.model, "--base-url", server.base_url])
        assert result.exit_code == 1, result.output
        message = " ".join(result.output.split())
        assert "failed" in message and "more than --allow-failures 0 allows" in message and "unparsable" in message
        assert "One unparsable reply: pair-000: grounding: " in message and "reply: 'no boxes here'" in message
        result = runner.invoke(
            app, [*args, "--model", server.model, "--base-url", server.base_url, "--allow-failures", "1"]
        )
        assert result.exit_code == 0, result.output


def test_import_errors_name_the_column(pair_jsonl, tmp_path):
    result = runner.invoke(app, ["data", "import", str(pair_jsonl), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no column 'source'" in " ".join(result.output.split())


def test_shipped_presets_load():
    for name in ("curation_local_edits.yaml", "curation_pairs_difference.yaml"):
        cfg = load_build_config(CONFIGS / name)
        assert cfg.workers >= 1
    assert load_build_config(CONFIGS / "curation_local_edits.yaml").augment.rule_for("action").dilate_fraction > 0
