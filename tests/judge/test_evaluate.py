"""Judge.evaluate: strict parsing with retries, explicit failures that keep the raw reply."""

import asyncio
import base64
import io

import torch
from PIL import Image

from cocoedit.judge.client import OpenAIJudgeBackend
from cocoedit.judge.config import EndpointConfig, SamplingConfig
from cocoedit.judge.evaluate import Judge
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.prompts import gedit_templates, imgedit_templates, reward_template
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply

IMAGES = {"source": JudgeImage.from_tensor(torch.zeros(3, 8, 8)), "edited": JudgeImage.from_tensor(torch.ones(3, 8, 8))}


def _evaluate(script, template, parse_retries=2, max_retries=0):
    with ScriptedJudgeServer(script) as server:

        async def go():
            backend = OpenAIJudgeBackend(
                EndpointConfig(
                    base_url=server.base_url, model=server.model, max_retries=max_retries, backoff_s=0.0, timeout_s=0.5
                )
            )
            try:
                return await Judge(backend, SamplingConfig(), parse_retries).evaluate(template, IMAGES, "make it red")
            finally:
                await backend.aclose()

        return asyncio.run(go()), server


def test_garbage_is_retried_then_a_failure_with_its_text():
    outcome, server = _evaluate(ScriptedReply(text="I like this picture"), reward_template(), parse_retries=2)
    assert not outcome.ok and outcome.scores is None and outcome.primary is None
    assert outcome.reason == "unparsable" and outcome.text == "I like this picture"
    assert outcome.attempts == 3 and len(server.requests) == 3


def test_a_retry_that_parses_succeeds():
    script = [ScriptedReply(text='{"score": [7, '), ScriptedReply(text='{"reasoning": "ok", "score": [7, 4]}')]
    outcome, _ = _evaluate(script, gedit_templates()["sc"])
    assert outcome.ok and outcome.primary == 4.0 and outcome.attempts == 2


def test_truncated_json_fails_and_says_so():
    outcome, _ = _evaluate(
        ScriptedReply(text='{"reasoning": "the edit', finish_reason="length"), gedit_templates()["sc"], parse_retries=0
    )
    assert not outcome.ok and "never closed" in outcome.error


def test_logprob_mode_requests_logprobs_and_fails_without_them():
    outcome, server = _evaluate(
        ScriptedReply(text="Editing effect: 4\nVisual quality: 4", omit_logprobs=True),
        reward_template("logprobs"),
        parse_retries=0,
    )
    assert server.requests[0]["top_logprobs"] == 20
    assert not outcome.ok and outcome.reason == "no_logprobs" and outcome.attempts == 1
    pieces = [
        ("Editing effect: ", {}),
        ("4", {"4": -0.0, "5": -30.0}),
        ("\nVisual quality: ", {}),
        ("2", {"2": -0.6931471805599453, "4": -0.6931471805599453}),
    ]
    outcome, _ = _evaluate(
        ScriptedReply(text="Editing effect: 4\nVisual quality: 2", tokens=pieces),
        reward_template("logprobs"),
        parse_retries=0,
    )
    assert outcome.ok and abs(outcome.scores["quality"] - 3.0) < 1e-9 and abs(outcome.primary - 0.7) < 1e-6


def test_transport_failure_is_an_outcome_not_an_exception():
    outcome, _ = _evaluate(ScriptedReply(status=503), reward_template(), max_retries=1)
    assert not outcome.ok and outcome.reason == "http_503" and outcome.text is None


def _order(body) -> list[str]:
    """The user message as 'text' / 'dark' / 'bright' (source is black, edited is white)."""
    out = []
    for part in body["messages"][0]["content"]:
        if part["type"] == "text":
            out.append("text")
        else:
            out.append("dark" if _is_dark(part["image_url"]["url"]) else "bright")
    return out


def _is_dark(url: str) -> bool:
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    return image.convert("L").getpixel((0, 0)) < 128


def test_message_order_follows_each_benchmarks_official_script(tmp_path):
    """ImgEdit's basic_bench.py and GEdit's VIEScore send the prompt, then the source, then the
    edited image; our reward template sends the images first."""
    path = tmp_path / "prompts.json"
    path.write_text('{"add": "Rate <edit_prompt>"}')
    reply = ScriptedReply(text="A: 5\nB: 4\nC: 3")
    _, server = _evaluate(reply, imgedit_templates(path)["add"], parse_retries=0)
    assert _order(server.requests[0]) == ["text", "dark", "bright"]
    _, server = _evaluate(ScriptedReply(text='{"reasoning": "ok", "score": [7, 4]}'), gedit_templates()["sc"])
    assert _order(server.requests[0]) == ["text", "dark", "bright"]
    _, server = _evaluate(
        ScriptedReply(text="Editing effect: 4\nVisual quality: 4"), reward_template(), parse_retries=0
    )
    assert _order(server.requests[0]) == ["dark", "bright", "text"]
