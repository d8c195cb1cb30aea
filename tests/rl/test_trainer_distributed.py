"""Two CPU processes (gloo), replicated (ddp) or sharded (fsdp2, also across a resume): identical
adapters on both ranks, equal to one process with the same global batch."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cocoedit.testing.sample_data import make_sample_manifest

WORKER = Path(__file__).parent / "distributed_worker.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, out):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp2", "fsdp2-resume"])
def test_two_processes_equal_one(tmp_path, mode):
    manifest = make_sample_manifest(tmp_path / "ds", samples=6, size=(64, 64))
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(free_port()), str(WORKER), str(manifest), str(tmp_path / "two"), mode], tmp_path)
    run([sys.executable, str(WORKER), str(manifest), str(tmp_path / "one")], tmp_path)
    r0, r1 = (torch.load(tmp_path / "two" / f"rank{r}.pt") for r in (0, 1))
    single = torch.load(tmp_path / "one" / "rank0.pt")
    assert r0["world"] == 2 and single["world"] == 1
    for key in ("current", "old"):
        assert all(torch.equal(a, b) for a, b in zip(r0[key], r1[key])), f"ranks differ in {key}"
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(r0[key], single[key])), f"{key} differs from 1 process"
    lora_b = [a for a in r0["current"] if a.shape[1] == 4 and a.shape[0] != 4]  # rank-4 B matrices start at 0
    assert lora_b and any(a.abs().sum() > 0 for a in lora_b)  # training moved the adapter
    assert (tmp_path / "two" / "run" / "checkpoints" / "step-000002").is_dir()
