"""``cocoedit train`` as a batch job: launched by torchrun or ``accelerate launch`` with N processes
it runs N processes, and with its output going to a file it writes one plain log line per step
(step, figures, rate, ETA), from rank 0 only, and nothing of the libraries'; ``accelerate launch``
without ``--multi_gpu``, which starts one process, says so in one line."""

import json
import os
import re
import socket
import subprocess
import sys

import pytest
import yaml

from cocoedit.cli.quiet import QUIET_ENVIRONMENT
from cocoedit.testing.output import third_party_noise
from cocoedit.testing.sample_data import make_sample_manifest
from cocoedit.testing.tiny import save_tiny_pipeline
from cocoedit.testing.trainer import tiny_training_config

EPOCHS = 3


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("launch")
    model = save_tiny_pipeline("kontext", root / "model")
    manifest = make_sample_manifest(root / "ds", samples=4, size=(64, 64))
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(tiny_training_config(model, manifest, train={"epochs": EPOCHS})))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(prefix, config_file, run_dir, log):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for key in QUIET_ENVIRONMENT:  # the command must quiet the libraries itself
        env.pop(key, None)
    with open(log, "w") as out:  # not a terminal: a batch job's log
        result = subprocess.run(
            [*prefix, "train", "--config", str(config_file), "--run-dir", str(run_dir)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    text = log.read_text()
    assert result.returncode == 0, text[-3000:]
    return text


def step_lines(text):
    return [line for line in text.splitlines() if re.search(r"\btrain: \d+/\d+ steps", line)]


@pytest.mark.slow
def test_one_process_logs_one_plain_line_per_step(config_file, tmp_path):
    text = launch([sys.executable, "-m", "cocoedit"], config_file, tmp_path / "run", tmp_path / "log")
    lines = step_lines(text)
    assert [re.search(r"train: (\d+)/", line).group(1) for line in lines] == [str(s) for s in range(1, EPOCHS + 1)]
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line) for line in lines)  # timestamped log lines
    assert "steps/s" not in lines[0] and "s per step" not in lines[0]  # one step is no rate (it carried the load)
    assert "ETA" in lines[1] and ("steps/s" in lines[1] or "s per step" in lines[1])
    assert all("policy" in line and "keep_region" in line for line in lines)
    assert "\r" not in text and "━" not in text  # no progress-bar drawing in a file
    assert third_party_noise(text) == []  # no library warnings or bars without --verbose


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_n_processes_run_and_only_rank_0_prints(launcher, config_file, tmp_path):
    bin_dir, port = os.path.dirname(sys.executable), str(free_port())
    prefix = {
        "torchrun": [
            os.path.join(bin_dir, "torchrun"),
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            port,
            "-m",
            "cocoedit",
        ],
        "accelerate": [
            os.path.join(bin_dir, "accelerate"),
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--main_process_port",
            port,
            "-m",
            "cocoedit",
        ],
    }[launcher]
    text = launch(prefix, config_file, tmp_path / "run", tmp_path / "log")
    assert json.loads((tmp_path / "run" / "run_info.json").read_text())["world_size"] == 2
    assert len(step_lines(text)) == EPOCHS  # each step once, not once per process
    assert text.count("run: ") == 1


@pytest.mark.slow
def test_accelerate_without_multi_gpu_runs_one_process_and_says_so(config_file, tmp_path):
    bin_dir, port = os.path.dirname(sys.executable), str(free_port())
    prefix = [os.path.join(bin_dir, "accelerate"), "launch", "--num_processes", "2", "--main_process_port", port]
    text = launch([*prefix, "-m", "cocoedit"], config_file, tmp_path / "run", tmp_path / "log")
    assert json.loads((tmp_path / "run" / "run_info.json").read_text())["world_size"] == 1
    [warning] = [line for line in text.splitlines() if "started 1 process" in line]
    assert "--multi_gpu" in warning and "torchrun" in warning
