"""`cocoedit eval judge` end to end: generated benchmark, scripted judge server, merged report."""

import csv
import json
import re

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply
from cocoedit.testing.sample_data import make_sample_benchmark


def _vie_script(body, index):
    parts = body["messages"][0]["content"]
    n_images = sum(p["type"] == "image_url" for p in parts)
    if n_images == 1:  # PQ
        return ScriptedReply(text='{"reasoning": "clean", "score": [9, 8]}')
    if "Remove" in next(p["text"] for p in parts if p["type"] == "text"):
        return ScriptedReply(text="I refuse to answer in JSON")
    return ScriptedReply(text='{"reasoning": "ok", "score": [6, 4]}')


@pytest.mark.slow
def test_gedit_judge_report_merges_with_consistency(tmp_path):
    made = make_sample_benchmark(tmp_path / "data", "gedit", per_category=2)
    careful, drifting = made.results["careful"], made.results["drifting"]
    next(drifting.rglob("*.png")).unlink()  # one missing result
    runner = CliRunner()
    cons = tmp_path / "cons"
    res = runner.invoke(
        app,
        [
            "eval",
            "consistency",
            "--bench",
            "gedit",
            "--bench-dir",
            str(made.bench_dir),
            "--results",
            str(careful),
            "--results",
            str(drifting),
            "--out",
            str(cons),
            "--allow-failures",
            "0.2",
        ],
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "judge"
    with ScriptedJudgeServer(_vie_script) as server:
        args = [
            "eval",
            "judge",
            "--bench",
            "gedit",
            "--bench-dir",
            str(made.bench_dir),
            "--results",
            str(careful),
            "--results",
            str(drifting),
            "--out",
            str(out),
            "--base-url",
            server.base_url,
            "--model",
            server.model,
            "--consistency",
            str(cons),
            "--parse-retries",
            "0",
        ]
        res = runner.invoke(app, args)
        # Not every sample was judged: the outputs are written, and the exit status says so.
        assert res.exit_code == 1, res.output
        message = " ".join(res.output.split())
        assert "results 'careful': 2 of 6 samples not judged (failed 2: sc:unparsable x2; missing 0" in message
        assert "results 'drifting': 3 of 6 samples not judged" in message and "--allow-failures 0" in message
        assert "subject-remove/en/0003: sc:unparsable (sc: no JSON object in the reply" in message  # samples named
        requests = len(server.requests)
        res = runner.invoke(app, [*args, "--allow-failures", "0.5"])  # a re-run is served from the cache
        assert res.exit_code == 0, res.output
        rerun_requests = len(server.requests) - requests

    summary = json.loads((out / "judge_summary.json").read_text())
    run = summary["results"]["careful"]
    assert run["counts"] == {"samples": 6, "scored": 4, "missing": 0, "unreadable": 0, "failed": 2}
    assert run["failure_reasons"] == {"sc:unparsable": 2}
    assert {(u["status"], u["reason"]) for u in run["unjudged"]} == {("failed", "sc:unparsable")}
    assert run["headline"]["value"] == pytest.approx((4 * 8) ** 0.5)  # SC = min(6, 4), PQ = min(9, 8)
    assert summary["results"]["drifting"]["counts"]["missing"] == 1
    assert summary["judge"]["prompt_source"] == "cocoedit's own wording"
    with open(out / "judge_per_sample.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all("I refuse" in r["error"] for r in failed)
    assert rerun_requests == len(failed)  # only the unparsable SC calls were asked again
    scored = [r for r in rows if r["status"] == "scored"]
    assert scored and all(r["reasoning"] == "SC: ok\nPQ: clean" for r in scored)
    assert all(
        (r["success"], r["overedit"], r["naturalness"], r["artifacts"]) == ("6.0", "4.0", "9.0", "8.0") for r in scored
    )
    replies = (out / "judge_replies.jsonl").read_text().splitlines()
    assert any("I refuse" in line for line in replies)
    html = (out / "report.html").read_text()
    assert "Judge score against keep-region PSNR" in html and "keep-region consistency" in html
    assert "SC: ok\nPQ: clean" in html and "<th>PQ: artifacts</th>" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 2


def test_judge_cli_clear_errors(tmp_path):
    made = make_sample_benchmark(tmp_path / "data", "imgedit", per_category=1)
    runner = CliRunner()
    with ScriptedJudgeServer(ScriptedReply(text="x")) as server:
        url = server.base_url
    res = runner.invoke(
        app,
        [
            "eval",
            "judge",
            "--bench",
            "imgedit",
            "--bench-dir",
            str(made.bench_dir),
            "--results",
            str(made.results["careful"]),
            "--out",
            str(tmp_path / "o"),
            "--base-url",
            url,
            "--model",
            "m",
            "--timeout",
            "2",
            "--max-retries",
            "0",
        ],
    )
    assert res.exit_code == 2 and "not reachable" in res.output and len(res.output.strip().splitlines()) <= 3
    res = runner.invoke(
        app,
        [
            "eval",
            "judge",
            "--bench",
            "imgedit",
            "--bench-dir",
            str(made.bench_dir),
            "--results",
            str(made.results["careful"]),
            "--out",
            str(tmp_path / "o"),
            "--model",
            "m",
            "--official-prompts",
            str(tmp_path / "nope.json"),
        ],
    )
    assert res.exit_code == 2 and "nope.json" in res.output


def test_imgedit_as_released_every_key_judged_with_the_official_order(tmp_path):
    """Keys sharing a source are separate samples; official prompts go text, source, edited."""
    made = make_sample_benchmark(tmp_path / "data", "imgedit", per_category=2)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(
        json.dumps({t: "Rate this <edit_prompt> edit. Below are the images." for t in ("adjust", "remove", "style")})
    )
    out = tmp_path / "judge"
    with ScriptedJudgeServer(ScriptedReply(text="A: 5\nB: 4\nC: 3")) as server:
        res = CliRunner().invoke(
            app,
            [
                "eval",
                "judge",
                "--bench",
                "imgedit",
                "--bench-dir",
                str(made.bench_dir),
                "--results",
                str(made.results["careful"]),
                "--out",
                str(out),
                "--base-url",
                server.base_url,
                "--model",
                server.model,
                "--official-prompts",
                str(prompts),
            ],
        )
        assert res.exit_code == 0, res.output
        bodies = list(server.requests)
    run = json.loads((out / "judge_summary.json").read_text())["results"]["careful"]
    assert run["counts"] == {"samples": 6, "scored": 6, "missing": 0, "unreadable": 0, "failed": 0}
    assert run["per_category"]["adjust"]["n"] == 2
    texts = sorted(next(p["text"] for p in b["messages"][0]["content"] if p["type"] == "text") for b in bodies)
    assert len(texts) == 6 and any("Give the marked part a blue tint." in t for t in texts)
    assert all([p["type"] for p in b["messages"][0]["content"]] == ["text", "image_url", "image_url"] for b in bodies)


def test_gedit_without_intersection_flags_has_no_intersection_table(tmp_path):
    made = make_sample_benchmark(tmp_path / "data", "gedit", per_category=1)
    meta_path = made.bench_dir / "metafile_geditbench.json"
    meta = json.loads(meta_path.read_text())
    for record in meta.values():
        del record["Intersection_exist"]
    meta_path.write_text(json.dumps(meta))
    out = tmp_path / "judge"
    with ScriptedJudgeServer(_vie_script) as server:
        res = CliRunner().invoke(
            app,
            [
                "eval",
                "judge",
                "--bench",
                "gedit",
                "--bench-dir",
                str(made.bench_dir),
                "--results",
                str(made.results["careful"]),
                "--out",
                str(out),
                "--base-url",
                server.base_url,
                "--model",
                server.model,
                "--allow-failures",
                "1",
            ],
        )
    assert res.exit_code == 0, res.output
    assert "no intersection flag" in res.output
    run = json.loads((out / "judge_summary.json").read_text())["results"]["careful"]
    assert run["per_language"]["en"]["intersection"] is None
    assert run["per_language"]["en"]["full"]["per_category"]
    assert "<th>O intersection</th>" in (out / "report.html").read_text()
