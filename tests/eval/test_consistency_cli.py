"""`cocoedit eval consistency` end to end on generated benchmarks with known synthetic edits."""

import csv
import json
import math
import shutil

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.metrics import PSNR_IDENTICAL_DB
from cocoedit.eval.benchmarks import load_benchmark, result_path
from cocoedit.testing.sample_data import DRIFT_LEVELS

runner = CliRunner()
DRIFT_PSNR = 20 * math.log10(255 / DRIFT_LEVELS)


def run(bench, made, out, results=None, *extra, exit_code=0):
    results = results or [made.results[n] for n in ("careful", "drifting", "global")]
    args = ["eval", "consistency", "--bench", bench, "--bench-dir", str(made.bench_dir), "--out", str(out)]
    for r in results:
        args += ["--results", str(r)]
    result = runner.invoke(app, args + list(extra))
    assert result.exit_code == exit_code, result.output
    summary = json.loads((out / "summary.json").read_text())
    with open(out / "per_sample.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return result, summary, rows


@pytest.mark.parametrize("bench", ["gedit", "imgedit"])
def test_known_edits_give_known_numbers(bench, gedit_bench, imgedit_bench, tmp_path):
    made = gedit_bench if bench == "gedit" else imgedit_bench
    result, summary, rows = run(bench, made, tmp_path)
    assert f"report: {tmp_path / 'report.html'}" in result.stdout
    assert len(rows) == 3 * made.samples
    careful, drifting, glob = (summary["results"][n] for n in ("careful", "drifting", "global"))
    assert careful["overall_macro"]["keep_psnr"] == pytest.approx(PSNR_IDENTICAL_DB)
    assert careful["overall_macro"]["keep_ssim"] == pytest.approx(1.0, abs=1e-6)
    assert drifting["overall_macro"]["keep_psnr"] == pytest.approx(DRIFT_PSNR, abs=1e-3)
    assert drifting["overall_macro"]["keep_mae"] == pytest.approx(DRIFT_LEVELS / 255, abs=1e-6)
    assert glob["overall_macro"]["keep_psnr"] < DRIFT_PSNR
    # The edit itself is the same in all three: the edit region changed in every folder.
    assert careful["overall_macro"]["edit_change"] > 0.1
    assert all(r["resized"] == ("True" if r["results"] == "global" else "False") for r in rows)
    for name, res in summary["results"].items():
        exact = made.samples if name == "careful" else 0  # careful leaves every keep pixel as it was
        assert res["counts"] == {
            "samples": made.samples,
            "scored": made.samples,
            "exact": exact,
            "missing": 0,
            "unreadable": 0,
            "no_keep_region": 0,
            "bench_error": 0,
        }
    assert {r["instruction"] for r in rows} == {s.instruction for s in load_benchmark(bench, made.bench_dir)}
    assert not any(name in rows[0] for name in ("keep_lpips", "keep_dino", "keep_clip"))  # not asked for


def test_macro_is_mean_of_category_means_and_weighted_is_mean_of_samples(gedit_bench, tmp_path):
    # Drop one sample from one category so the two averages differ.
    results = tmp_path / "partial"
    shutil.copytree(gedit_bench.results["global"], results)
    samples = load_benchmark("gedit", gedit_bench.bench_dir)
    result_path(results, samples[0]).unlink()
    _, summary, rows = run("gedit", gedit_bench, tmp_path / "out", [results], "--allow-failures", "0.2")
    ok = [r for r in rows if r["status"] == "ok"]
    by_cat = {}
    for r in ok:
        by_cat.setdefault(r["category"], []).append(float(r["keep_psnr"]))
    res = summary["results"]["partial"]
    macro = sum(sum(v) / len(v) for v in by_cat.values()) / len(by_cat)
    weighted = sum(float(r["keep_psnr"]) for r in ok) / len(ok)
    assert res["overall_macro"]["keep_psnr"] == pytest.approx(macro)
    assert res["overall_weighted"]["keep_psnr"] == pytest.approx(weighted)
    assert macro != pytest.approx(weighted)
    assert res["per_category"][samples[0].category]["n"] == 1


def test_missing_and_unreadable_results_are_listed_and_counted(gedit_bench, tmp_path):
    results = tmp_path / "broken"
    shutil.copytree(gedit_bench.results["careful"], results)
    samples = load_benchmark("gedit", gedit_bench.bench_dir)
    result_path(results, samples[1]).unlink()
    truncated = result_path(results, samples[2])
    truncated.write_bytes(truncated.read_bytes()[:200])
    out = tmp_path / "out"
    result, summary, rows = run("gedit", gedit_bench, out, [results, gedit_bench.results["careful"]], exit_code=1)
    message = " ".join(result.output.split())
    assert f"results 'broken': 2 of {gedit_bench.samples} samples not scored (missing 1, unreadable 1" in message
    assert f"{samples[1].key}: missing" in message and f"{samples[2].key}: " in message
    assert "results 'careful'" not in message
    res = summary["results"]["broken"]
    assert res["counts"]["missing"] == 1 and res["counts"]["unreadable"] == 1
    assert res["counts"]["scored"] == gedit_bench.samples - 2
    assert res["missing"] == [samples[1].key]
    assert res["unreadable"][0]["key"] == samples[2].key and "truncated" in res["unreadable"][0]["error"]
    statuses = {r["key"]: r["status"] for r in rows if r["results"] == "broken"}
    assert statuses[samples[1].key] == "missing" and statuses[samples[2].key] == "unreadable"
    html = (out / "report.html").read_text()
    assert "Samples not scored (2)" in html and samples[1].key in html


def test_bad_arguments_fail_clearly(gedit_bench, tmp_path):
    result = runner.invoke(
        app,
        [
            "eval",
            "consistency",
            "--bench",
            "gedit",
            "--bench-dir",
            str(tmp_path),
            "--results",
            str(gedit_bench.results["careful"]),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "no 'fullset' folder" in result.output
    result = runner.invoke(
        app,
        [
            "eval",
            "consistency",
            "--bench",
            "gedit",
            "--bench-dir",
            str(gedit_bench.bench_dir),
            "--results",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "results folder not found" in result.output


def test_perceptual_metrics_appear_only_when_asked_and_rank_the_editors(perceptual_weights, tmp_path):
    from cocoedit.testing.sample_data import make_sample_benchmark

    made = make_sample_benchmark(tmp_path / "b", "gedit", per_category=1, size=(16, 24))
    w = perceptual_weights
    folders = [made.results["careful"], made.results["drifting"]]
    _, summary, rows = run(
        "gedit",
        made,
        tmp_path / "out",
        folders,
        "--lpips-weights",
        str(w / "vgg16.pth"),
        "--dino",
        str(w / "dino"),
        "--dino-size",
        "32",
        "--clip",
        str(w / "clip"),
    )
    assert {"keep_lpips", "keep_dino", "keep_clip"} <= set(rows[0])
    assert "uncalibrated" in summary["perceptual"]["keep_lpips"]["label"]
    careful, drifting = summary["results"]["careful"]["overall_macro"], summary["results"]["drifting"]["overall_macro"]
    # careful leaves the keep region untouched: distance 0, similarity 1, whatever its edit did.
    assert careful["keep_lpips"] == pytest.approx(0.0, abs=1e-6)
    assert careful["keep_dino"] == pytest.approx(1.0, abs=1e-5) and careful["keep_clip"] == pytest.approx(1.0, abs=1e-5)
    assert drifting["keep_lpips"] > 1e-4 and drifting["keep_dino"] < careful["keep_dino"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "keep LPIPS (uncalibrated) macro" in html and "keep CLIP similarity macro" in html
    # A model the hub would have to supply fails before any scoring, naming it.
    result = runner.invoke(
        app,
        [
            "eval",
            "consistency",
            "--bench",
            "gedit",
            "--bench-dir",
            str(made.bench_dir),
            "--results",
            str(made.results["careful"]),
            "--out",
            str(tmp_path / "o2"),
            "--dino",
            "facebook/dinov2-small",
        ],
    )
    assert result.exit_code == 2 and "facebook/dinov2-small" in result.output and "HF_HUB_OFFLINE" in result.output
