"""A build that stops on VLM failures says why, not only how often: the last explanation the server
gave (an HTTP error's text) and one reply that did not parse, in the stop message and summary.json,
against a real HTTP server on 127.0.0.1."""

import json
import re

from cocoedit.curation.build import run_build
from cocoedit.curation.config import BuildConfig
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply

from .conftest import known_box_reply, prompt_of

UNPARSABLE = "It is the thing in the middle."


def _config(server, parse_retries=1):
    return BuildConfig.model_validate(
        {
            "annotate": {"method": "grounding"},
            "vlm": {
                "endpoint": {"model": server.model, "base_url": server.base_url, "max_retries": 0},
                "parse_retries": parse_retries,
            },
            "workers": 1,  # requests in sample order: the script's first reply goes to pair-000
        }
    )


def test_first_reply_unparsable_then_http_500_names_both(candidates, tmp_path):
    """The audit's case: the first reply does not parse, every later request is an HTTP 500, so
    every sample fails as grounding_http_500 and the unparsable reply is only an earlier attempt."""
    script = [ScriptedReply(text=UNPARSABLE), ScriptedReply(status=500)]
    with ScriptedJudgeServer(script) as server:
        summary = run_build(_config(server), candidates, tmp_path / "out")
    assert summary.counts == {"kept": 0, "dropped": 0, "failed": 8}
    message = summary.failures_beyond(0.0)
    assert message.startswith("8 of 8 samples failed (grounding_http_500 x8), more than --allow-failures 0")
    last, reply = re.search(r"Last explanation: (.*); one unparsable reply: (.*)$", message).groups()
    assert last.startswith("pair-007: grounding: ") and "scripted HTTP 500" in last
    assert reply == f"pair-000: {UNPARSABLE!r}, before grounding_http_500"
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["failure_explanation"] == message.split(". ", 1)[1]
    assert summary.failures_beyond(1.0) is None


def test_the_last_server_explanation_and_the_first_unparsable_reply(candidates, tmp_path):
    def script(body, index):
        i = int(re.search(r"object number (\d+)", prompt_of(body)).group(1))
        if i in (2, 5):
            return ScriptedReply(text=f"no idea about {i}")
        if i in (3, 4):
            return ScriptedReply(status=500 + i)
        return ScriptedReply(text=known_box_reply(i))

    with ScriptedJudgeServer(script) as server:
        summary = run_build(_config(server, parse_retries=0), candidates, tmp_path / "out")
    assert summary.failed_reasons == {"grounding_unparsable": 2, "grounding_http_503": 1, "grounding_http_504": 1}
    message = summary.failures_beyond(0.25)
    explanation = message.split("rerun with --retry-failed once the cause is fixed. ")[1]
    last, reply = explanation.removeprefix("Last explanation: ").split("; one unparsable reply: ")
    assert last.startswith("pair-004: grounding: ") and "504" in last and "503" not in last
    assert reply.startswith("pair-002: grounding: ") and reply.endswith("; reply: 'no idea about 2'")
    assert summary.failures_beyond(0.5) is None  # 4 of 8 is not more than half


def test_failures_without_a_server_explain_nothing_more(candidates, tmp_path):
    with ScriptedJudgeServer(ScriptedReply(text=known_box_reply(0))) as server:
        summary = run_build(_config(server), candidates, tmp_path / "out")
    assert summary.counts["failed"] == 0 and summary.failure_explanation == ""
    assert "failure_explanation" not in json.loads((tmp_path / "out" / "summary.json").read_text())
