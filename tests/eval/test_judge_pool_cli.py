"""`cocoedit eval judge` with several replicas (`--base-url` repeated), one dying mid-run: every
sample judged by a real answer, the replica's failures counted in `judge_summary.json` and the
report; and a run stopped by failures names the server's last explanation and one unparsable
reply."""

import json
import re
import threading
import time

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply
from cocoedit.testing.sample_data import make_sample_benchmark


def answer(body, index):
    """A well-formed ImgEdit reply naming the criteria the prompt lists, after 50 ms."""
    prompt = next(p["text"] for p in body["messages"][0]["content"] if p["type"] == "text")
    names = re.findall(r"^\d\. ([^:]+):", prompt, flags=re.MULTILINE)
    return ScriptedReply(text="Reasoning: fine.\n" + "\n".join(f"{n}: 4" for n in names), delay_s=0.05)


def dying_answer(body, index):
    return answer(body, index) if index < 2 else ScriptedReply(drop_connection=True, delay_s=0.05)


def _judge(made, out, urls, *extra):
    args = ["eval", "judge", "--bench", "imgedit", "--bench-dir", str(made.bench_dir)]
    args += ["--results", str(made.results["careful"]), "--out", str(out), "--model", "scripted-judge"]
    for url in urls:
        args += ["--base-url", url]
    return CliRunner().invoke(app, [*args, "--concurrency", "2", *extra])


def _stop_when(server, requests):
    def watch():
        while len(server.requests) < requests:
            time.sleep(0.005)
        server.stop()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_a_replica_dying_mid_run_every_sample_judged_and_failures_counted(tmp_path):
    made = make_sample_benchmark(tmp_path / "data", "imgedit", per_category=4)
    dying = ScriptedJudgeServer(dying_answer).start()
    watcher = _stop_when(dying, 3)
    with ScriptedJudgeServer(answer) as a, ScriptedJudgeServer(answer) as b:
        urls = [a.base_url, b.base_url, dying.base_url]
        res = _judge(made, tmp_path / "out", urls)
        alive_requests = len(a.requests) + len(b.requests)
    watcher.join(10)
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "out" / "judge_summary.json").read_text())
    counts = summary["results"]["careful"]["counts"]
    stats = summary["judge"]["endpoints"]
    # Every score is a real answer (the dying replica's at most 2; one in flight when it stopped is lost).
    assert counts["scored"] == counts["samples"] == alive_requests + stats[2]["answered"] == 12
    assert [s["base_url"] for s in stats] == urls
    assert stats[0]["failures"] == stats[1]["failures"] == {}
    assert 1 <= stats[2]["answered"] <= 2 and stats[2]["failures"].get("connection", 0) >= 1
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<th>judge replica</th>" in html and urls[2] in html


def test_a_stop_on_failures_names_the_servers_explanation_and_an_unparsable_reply(tmp_path):
    made = make_sample_benchmark(tmp_path / "data", "imgedit", per_category=1)

    def script(body, index):
        return ScriptedReply(text="I would rather not") if index == 0 else ScriptedReply(status=500)

    with ScriptedJudgeServer(script) as server:
        res = _judge(made, tmp_path / "out", [server.base_url], "--max-retries", "0", "--parse-retries", "0")
    message = " ".join(res.output.split())
    assert res.exit_code == 1, res.output
    assert "Last explanation: HTTP 500: scripted HTTP 500" in message
    assert "one unparsable reply:" in message and "'I would rather not'" in message
