"""`open_judge` closes the backend's connection on every path that fails: an unreachable server,
a cache file it cannot use."""

import asyncio

import pytest

from cocoedit.judge.cache import JudgeCacheError
from cocoedit.judge.client import JudgeUnavailableError, OpenAIJudgeBackend
from cocoedit.judge.config import EndpointConfig, JudgeConfig
from cocoedit.judge.evaluate import open_judge
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply


class RecordingBackend(OpenAIJudgeBackend):
    def __init__(self, config):
        super().__init__(config)
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1
        await super().aclose()


def test_an_unreachable_server_closes_the_backend():
    endpoint = EndpointConfig(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0)
    backend = RecordingBackend(endpoint)
    with pytest.raises(JudgeUnavailableError, match="is not reachable"):
        asyncio.run(open_judge(JudgeConfig(endpoint=endpoint), backend))
    assert backend.closed == 1


def test_a_refused_cache_closes_the_backend(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100)
    with ScriptedJudgeServer(ScriptedReply(text="ok")) as server:
        endpoint = EndpointConfig(base_url=server.base_url, model=server.model)
        backend = RecordingBackend(endpoint)
        with pytest.raises(JudgeCacheError):
            asyncio.run(open_judge(JudgeConfig(endpoint=endpoint, cache_path=path), backend))
    assert backend.closed == 1
