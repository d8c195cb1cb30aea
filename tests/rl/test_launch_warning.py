"""A launch that starts fewer processes than were asked for says so in one line, naming the fix;
a real distributed launch, a plain single process and ``accelerate launch`` with one process do
not warn."""

import logging

import pytest

from cocoedit.rl.distributed import fewer_processes_than_asked, init_distributed

ONE_OF_MANY = {"ACCELERATE_USE_CPU": "False", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


@pytest.mark.parametrize(
    ("env", "fewer"),
    [
        (ONE_OF_MANY, True),  # accelerate launch --num_processes 2, no --multi_gpu, no GPUs
        ({**ONE_OF_MANY, "ACCELERATE_USE_CPU": "True"}, True),  # accelerate launch --cpu --num_processes 2
        ({"ACCELERATE_USE_CPU": "False"}, False),  # accelerate launch with one process
        ({**ONE_OF_MANY, "WORLD_SIZE": "2", "RANK": "0"}, False),  # --multi_gpu, torchrun
        ({}, False),  # python -m cocoedit
    ],
)
def test_which_launches_started_fewer_processes(env, fewer):
    assert fewer_processes_than_asked(env) is fewer


def test_the_warning_is_one_line_naming_the_fix(monkeypatch, caplog):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in ONE_OF_MANY.items():
        monkeypatch.setenv(key, value)
    with caplog.at_level(logging.WARNING, logger="cocoedit"):
        init_distributed()
    [record] = caplog.records
    assert "\n" not in record.message and "started 1 process" in record.message
    assert "--multi_gpu" in record.message and "torchrun --nproc_per_node" in record.message
