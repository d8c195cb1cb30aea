"""A judge cache path that is not a SQLite file (a text file, a folder) is refused by name, the
file is left unchanged; `eval judge --cache` exits 2."""

import hashlib

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.judge.cache import JudgeCache, JudgeCacheError
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply
from cocoedit.testing.sample_data import make_sample_benchmark

NOTES = "these are my notes, not a database\n" * 200


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_text_file_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text(NOTES)
    before = digest(path)
    with pytest.raises(JudgeCacheError, match=r"notes.txt: not a judge cache \(SQLite\) file .*left unchanged"):
        JudgeCache(path)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no journal left beside it


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(JudgeCacheError, match=r"is a folder; give the judge cache a file name"):
        JudgeCache(tmp_path)


def test_eval_judge_with_a_text_file_as_cache_prints_one_line(tmp_path):
    made = make_sample_benchmark(tmp_path / "data", "gedit", per_category=1)
    cache = tmp_path / "notes.txt"
    cache.write_text(NOTES)
    before = digest(cache)
    with ScriptedJudgeServer(ScriptedReply(text='{"reasoning": "ok", "score": [6, 4]}')) as server:
        result = CliRunner().invoke(
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
                str(tmp_path / "judge"),
                "--base-url",
                server.base_url,
                "--model",
                server.model,
                "--cache",
                str(cache),
            ],
        )
        assert server.requests == []  # refused before any sample was judged
    assert result.exit_code == 2, result.output
    assert "notes.txt: not a judge cache (SQLite) file" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert digest(cache) == before
