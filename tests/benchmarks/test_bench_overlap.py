"""benchmarks/bench_overlap.py: the ideal pipeline it measures the trainer against is the shortest
schedule there is (hand-checked cases), and the script runs real epochs end to end and reports
every figure it prints from them."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_overlap.py"


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_overlap", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ideal_pipeline_by_hand():
    ideal = bench_module().ideal_rollout
    # 3 requests at 0.5 s take 3 of 4 slots until 1.5 s; of the next batch (1.0 s) one starts at
    # once on the free slot, two wait until 1.5 s and end at 2.5 s.
    assert ideal([(0.5, 3), (1.0, 3)], 4, 1.0) == 2.5
    # The last batch is judged after sampling ends, whatever the slots: end = 2.0 + 1.0.
    assert ideal([(1.0, 1), (2.0, 1)], 16, 1.0) == 3.0
    # One slot: the requests queue, the first starting when its batch exists.
    assert ideal([(2.0, 2), (0.5, 1)], 1, 1.0) == 4.0
    # Everything at once on 16 slots: ceil(48 / 16) rounds, the judging-alone time.
    assert ideal([(0.0, 48)], 16, 3.0) == 9.0


@pytest.mark.slow
def test_the_script_reports_ratios_from_its_own_run(tmp_path):
    out = tmp_path / "overlap.json"
    args = ["--latencies", "0.3", "--epochs", "2", "--prompts", "2", "--group", "2", "--batch", "2"]
    args += ["--steps", "4", "--batch-seconds", "0.3", "--concurrency", "2", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env={"HF_HUB_OFFLINE": "1"}
    )
    assert "worst ratio to the ideal pipeline" in done.stdout, done.stderr[-3000:]
    [r] = json.loads(out.read_text())
    # 4 samples in 2 batches of 2, each batch stretched to 0.3 s; 2 judge slots of 0.3 s each.
    assert r["samples_per_epoch"] == 4 and r["sampling_s"] >= 0.6 and r["judging_alone_s"] >= 0.6
    # The second batch exists at >= 0.6 s; its two requests take 0.3 s on the two slots after that
    # (the first batch's were done at >= 0.6 s): sampling + 0.3 s, give or take the timers.
    assert r["ideal_pipeline_s"] == pytest.approx(r["sampling_s"] + 0.3, abs=0.05)
    assert r["rollout_phase_s"] == pytest.approx(r["sampling_s"] + r["waiting_for_rewards_s"], abs=2e-3)
    assert r["ratio"] == pytest.approx(r["rollout_phase_s"] / max(r["sampling_s"], r["judging_alone_s"]), abs=2e-3)
    assert r["floor_of_ratio"] >= 1.0  # max(sampling, judging) is never more than the ideal
    # Nothing beats the ideal schedule (timer jitter aside), and the trainer adds little to it.
    assert 0.97 < r["ratio_to_ideal"] < 1.5
