"""`cocoedit demo --quick`: every stage runs, the report and summary.json hold finite numbers, and
a second run reuses the cached base editor."""

import json
import math

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(
        app, ["demo", "--quick", "--out", str(root / "out"), "--cache-dir", str(root / "cache")]
    )
    assert result.exit_code == 0, result.output
    return root, result


@pytest.mark.slow
def test_quick_demo_writes_the_report_and_a_finite_table(quick_demo):
    root, result = quick_demo
    out = root / "out"
    assert f"report: {out / 'report.html'}" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["table"]) == ["base", "judge", "cocoedit", "region", "region_explore"]
    for name, row in summary["table"].items():
        for metric in ("edit_success", "keep_psnr", "keep_ssim"):
            assert len(row[metric]["per_seed"]) == len(summary["seeds"]) == 2
            assert math.isfinite(row[metric]["mean"]) and math.isfinite(row[metric]["std"]), (name, metric)
        assert 0 <= row["edit_success"]["mean"] <= 1
    assert summary["statement"] and isinstance(summary["tradeoff_appears"], bool)
    change = summary["table"]["judge"]["vs_base"]["edit_success"]
    assert change["df"] == 1 and change["low"] <= change["mean"] <= change["high"]  # the paired t interval
    env = summary["environment"]
    assert env["torch"] and env["host"] and env["date"] and env["torch_threads_per_run"] == 1
    assert summary["base_spread"]["seeds"] == 2 and 0 <= summary["base_spread"]["informative_share"] <= 1
    assert summary["first_step_signal"]["groups"] == 4 * 2 * 2  # arms x seeds x groups per step
    # --quick says, everywhere its numbers appear, that they mean nothing.
    assert summary["plumbing_check"] is True and summary["statement"][0].startswith("PLUMBING CHECK")
    assert "time per stage: task" in result.stdout
    for stage in ("task: ", "base editor (SFT): ", "base evaluation: ", "RL arms: ", "report: "):
        assert stage in result.stderr  # each stage's seconds as it ends, beside the progress bars
    assert summary["base_editor"]["reused_from_cache"] is False
    results = (out / "results.md").read_text()
    assert results.startswith("**PLUMBING CHECK") and "| (f) CoCoEdit, region credit + localized noise |" in results
    assert "Run: commit " in results and "torch " in results
    html = (out / "report.html").read_text()
    for heading in ("What happened", "Training curves", "Sample grid", "Base editor", "PLUMBING CHECK"):
        assert heading in html
    assert html.count("data:image/png;base64") >= 4  # trade-off plot, curves, grid, SFT loss
    # Every arm and seed left a trainer run folder with its metrics and a LoRA that loads elsewhere.
    for arm in ("judge", "cocoedit", "region", "region_explore"):
        for seed in summary["seeds"]:
            run = out / "runs" / f"{arm}-seed{seed}"
            assert (run / "metrics.jsonl").is_file()
            assert list((run / "checkpoints").glob("*/lora/*.safetensors"))


@pytest.mark.slow
def test_second_run_reuses_the_cached_base_editor(quick_demo, tmp_path):
    root, _ = quick_demo
    config = tmp_path / "demo.yaml"
    config.write_text("rl:\n  epochs: 1\nseeds: [0]\n")
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--quick",
            "--config",
            str(config),
            "--out",
            str(tmp_path / "again"),
            "--cache-dir",
            str(root / "cache"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert summary["base_editor"]["reused_from_cache"] is True
    assert summary["seeds"] == [0]
    assert summary["plumbing_check"] is True


def test_bad_settings_file_is_refused_before_any_work(tmp_path):
    config = tmp_path / "demo.yaml"
    config.write_text("rl:\n  epoch: 1\n")
    result = CliRunner().invoke(app, ["demo", "--config", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "rl.epoch" in result.output
    assert not (tmp_path / "out").exists()
