"""Two CPU processes (gloo) built the way ``cocoedit train`` builds them (a tiny Kontext saved to disk,
``from_config``, nothing seeded by hand), replicated (ddp) or sharded (fsdp2, also across a resume,
and sharded with region-aware credit; and a tiny FLUX.2 [dev] sharded, as its presets default to
fsdp2), validating every step: identical initial and final adapters on both ranks, equal to one
process with the same global batch, and the same logged curves (losses, rewards, validation)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cocoedit.rl.logging import read_metrics
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline

WORKER = Path(__file__).parent / "distributed_worker.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    return save_tiny_pipeline("kontext", root / "model"), make_sample_manifest(root / "ds", samples=6, size=(64, 64))


@pytest.fixture(scope="module")
def models(tmp_path_factory, inputs):
    """The tiny model of a kind, saved once (Kontext's is the one ``inputs`` holds)."""
    saved = {"kontext": inputs[0]}

    def model(kind: str) -> Path:
        if kind not in saved:
            saved[kind] = save_tiny_pipeline(kind, tmp_path_factory.mktemp(kind))
        return saved[kind]

    return model


@pytest.fixture(scope="module")
def single_runs(tmp_path_factory, inputs, models):
    """The 1-process runs the distributed runs are compared with, one per credit assignment and kind."""
    runs = {}

    def single(credit: str, kind: str = "kontext") -> Path:
        if (credit, kind) not in runs:
            runs[credit, kind] = tmp_path_factory.mktemp("one")
            args = [str(models(kind)), str(inputs[1]), str(runs[credit, kind]), "ddp" + credit, kind]
            run([sys.executable, str(WORKER), *args])
        return runs[credit, kind]

    return single


@pytest.fixture(scope="module")
def single(single_runs):
    return single_runs("")


@pytest.mark.slow
@pytest.mark.parametrize("case", ["ddp", "fsdp2", "fsdp2-resume", "fsdp2+region", "fsdp2:flux2"])
def test_two_processes_equal_one(tmp_path, inputs, models, single_runs, case):
    mode, _, kind = case.partition(":")
    kind = kind or "kontext"
    model, manifest = str(models(kind)), str(inputs[1])
    single = single_runs(mode.partition("+")[1] + mode.partition("+")[2], kind)
    run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(free_port()),
            str(WORKER),
            model,
            manifest,
            str(tmp_path / "two"),
            mode,
            kind,
        ]
    )
    r0, r1 = (torch.load(tmp_path / "two" / f"rank{r}.pt") for r in (0, 1))
    one_run, single = single / "run", torch.load(single / "rank0.pt")
    assert r0["world"] == 2 and single["world"] == 1
    assert r0["kind"] == single["kind"] == kind and r0["sharded"] == mode.startswith("fsdp2")
    # Every rank starts from the adapters train.seed gives, and so does a single process.
    assert all(torch.equal(a, b) for a, b in zip(r0["initial"], r1["initial"], strict=True))
    assert all(torch.equal(a, b) for a, b in zip(r0["initial"], single["initial"], strict=True))
    assert any(a.abs().sum() > 0 for a in r0["initial"])  # the A matrices are drawn, not zero
    for key in ("current", "old"):
        assert all(torch.equal(a, b) for a, b in zip(r0[key], r1[key], strict=True)), f"ranks differ in {key}"
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(r0[key], single[key], strict=True)), (
            f"{key} differs from 1 process"
        )
    assert any(
        not torch.equal(a, b) for a, b in zip(r0["current"], r0["initial"], strict=True)
    )  # training moved the adapter
    assert (tmp_path / "two" / "run" / "checkpoints" / "step-000002").is_dir()
    # Validation ran on both ranks (sharded forward passes are collectives) and saw every row.
    two, one = read_metrics(tmp_path / "two" / "run"), read_metrics(one_run)
    assert [r["step"] for r in two] == [1, 2]
    for a, b in zip(two, one, strict=True):
        assert a["val/keep_psnr"] == pytest.approx(b["val/keep_psnr"], abs=1e-3)
        # The logged curves are the whole epoch's, not rank 0's share: losses averaged over the
        # processes, reward statistics from every process's samples.
        curves = [
            k for k in b if k.startswith(("loss/", "reward", "r/")) or k in ("train/valid_fraction", "train/grad_norm")
        ]
        assert {"loss/policy", "loss/keep_region", "reward/combined", "r/std"} <= set(curves)
        for key in curves:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    assert json.loads((tmp_path / "two" / "run" / "run_info.json").read_text())["world_size"] == 2
    if mode.endswith("+region"):  # region credit trained something other than the single r would
        plain = torch.load(single_runs("") / "rank0.pt")
        assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(r0["current"], plain["current"], strict=True))


@pytest.mark.slow
def test_two_nodes_equal_one_process(tmp_path, inputs, single):
    """``torchrun --nnodes 2`` on one machine, one process per node (gloo), started as the SLURM
    recipe of docs/training.md starts each node (c10d rendezvous, no node rank given): the
    adapters of the 1-process run."""
    endpoint = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    nodes = [
        subprocess.Popen(
            [
                *[sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1"],
                *["--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint, "--rdzv_id", "two-nodes"],
                *[str(WORKER), *map(str, inputs), str(tmp_path / "nodes"), "ddp"],
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    r0, r1 = (torch.load(tmp_path / "nodes" / f"rank{r}.pt") for r in (0, 1))
    one = torch.load(single / "rank0.pt")
    assert r0["world"] == r1["world"] == 2
    for key in ("current", "old"):
        assert all(torch.equal(a, b) for a, b in zip(r0[key], r1[key], strict=True)), f"nodes differ in {key}"
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(r0[key], one[key], strict=True)), key
    assert json.loads((tmp_path / "nodes" / "run" / "run_info.json").read_text())["world_size"] == 2
