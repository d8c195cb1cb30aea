"""Crash safety: a `cocoedit data build` process killed mid-run and restarted ends with exactly the
outputs of an uninterrupted run, each sample decided once."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import cocoedit
from cocoedit.data.importers import ColumnMapping, import_pairs
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply

from .conftest import make_pairs, prompt_of, write_jsonl

N = 16
WORKERS = 2


def _reply(body, index):
    # slow enough that the run can be killed in the middle; sample 4's mask is judged inaccurate
    low = "object number 4 " in prompt_of(body)
    return ScriptedReply(
        text=f"Instruction clarity: 4\nMask accuracy: {2 if low else 4}\nTarget prominence: 4", delay_s=0.25
    )


def _build(args, server, out, config):
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(Path(cocoedit.__file__).parents[1]),
    }  # this checkout's cocoedit
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cocoedit",
            "data",
            "build",
            "--config",
            str(config),
            "--in",
            str(args),
            "--out",
            str(out),
            "--model",
            server.model,
            "--base-url",
            server.base_url,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines(path):
    return path.read_text().splitlines() if path.is_file() else []


def _comparable(out):
    records = {}
    for line in _lines(out / "records.jsonl"):
        rec = json.loads(line)
        rec["stages"].get("filter", {}).pop("cached", None)  # whether a reply came from the cache
        records[rec["id"]] = rec
    masks = {p.name: p.read_bytes() for p in sorted((out / "masks").glob("*.png"))}
    return records, (out / "manifest.jsonl").read_text(), masks


@pytest.mark.slow
def test_killed_build_resumes_to_the_uninterrupted_result(tmp_path):
    write_jsonl(tmp_path / "pairs.jsonl", make_pairs(tmp_path, N))
    columns = ColumnMapping(source="src", target="tgt", instruction="prompt", id="uid", edit_type="kind")
    manifest = import_pairs(tmp_path / "pairs.jsonl", tmp_path / "imported", columns=columns).manifest
    config = tmp_path / "curation.yaml"
    config.write_text(
        yaml.safe_dump(
            {"filter": {"enabled": True}, "workers": WORKERS, "augment": {"by_type": {"replace": {"dilate_px": 3}}}}
        )
    )

    with ScriptedJudgeServer(_reply) as server:
        ref = _build(manifest, server, tmp_path / "ref", config)
        assert ref.wait(timeout=300) == 0, ref.stderr.read()[-3000:]
        ref_requests = len(server.requests)

        out = tmp_path / "killed"
        proc = _build(manifest, server, out, config)
        deadline = time.monotonic() + 120
        while len(_lines(out / "records.jsonl")) < 5:
            assert proc.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        recorded = len(_lines(out / "records.jsonl"))
        assert 5 <= recorded < N
        assert not (out / "manifest.jsonl").exists()  # written only at the end of a run

        restart = _build(manifest, server, out, config)
        assert restart.wait(timeout=300) == 0, restart.stderr.read()[-3000:]
        resumed_requests = len(server.requests) - ref_requests

    ids = [json.loads(line)["id"] for line in _lines(out / "records.jsonl")]
    assert len(ids) == len(set(ids)) == N  # every sample decided exactly once
    # each sample was judged once; only replies in flight at the kill can have been asked twice
    assert ref_requests == N and N <= resumed_requests <= N + WORKERS
    assert _comparable(out) == _comparable(tmp_path / "ref")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"kept": N - 1, "dropped": 1, "failed": 0}
