"""Progress off a terminal (batch jobs): rates are measured from the first item done (a first item
that carried a model's loading is no rate), and every task's last line carries its final count,
a task without a known total included; a command that failed ends with its error, not a count."""

import re

import pytest

import cocoedit.cli.progress as progress_module
from cocoedit.cli.common import setup_logging
from cocoedit.cli.progress import progress


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    setup_logging()
    return clock


def logged(capsys) -> list[str]:
    return [re.sub(r"^\S+ \S+ ", "", line) for line in capsys.readouterr().err.splitlines()]


def test_the_rate_starts_from_the_second_item(clock, capsys):
    with progress("train", 4, "steps", log_interval_s=0) as task:
        clock.now += 60  # the first step waited for the model to load
        task.advance()
        clock.now += 2
        task.advance()
        clock.now += 2
        task.advance()
    first, second, third = logged(capsys)
    assert first == "train: 1/4 steps (25%)"  # no rate and no ETA from one item
    assert second == "train: 2/4 steps (50%) 0.50 steps/s ETA 0:04"
    assert third == "train: 3/4 steps (75%) 0.50 steps/s ETA 0:02"


def test_a_fast_first_item_is_no_rate(clock, capsys):
    with progress("importing", None, "rows", log_interval_s=0) as task:
        clock.now += 1e-5
        task.advance()
    assert "rows/s" not in logged(capsys)[0]


def test_every_row_is_counted_in_the_last_line(clock, capsys):
    with progress("importing t.jsonl", None, "rows", log_interval_s=10) as task:
        for _ in range(8):
            clock.now += 0.5
            task.advance()
    lines = logged(capsys)
    assert lines[0] == "importing t.jsonl: 1 row"
    assert lines[-1] == "importing t.jsonl: 8 rows 2.00 rows/s done in 0:04"
    assert len(lines) == 2


def test_no_second_last_line_when_the_count_was_logged(clock, capsys):
    with progress("scoring", 2, "samples", log_interval_s=10) as task:
        task.advance()
        clock.now += 1
        task.advance()  # the total reached: logged now
    assert len(logged(capsys)) == 2


def test_a_failed_command_ends_with_its_error_not_a_count(clock, capsys):
    with pytest.raises(RuntimeError), progress("importing", None, "rows", log_interval_s=10) as task:
        task.advance()
        task.advance()
        raise RuntimeError("disk gone")
    assert logged(capsys) == ["importing: 1 row"]


def test_items_done_before_the_start_count_but_are_no_rate(clock, capsys):
    with progress("editing", 16, "images", log_interval_s=0) as task:
        task.already_done(14, "skipped, already done")
        clock.now += 30  # the first edit waits for the model
        task.advance()
        clock.now += 2
        task.advance()
    assert logged(capsys) == [
        "editing: 14/16 images (88%) (14 skipped, already done)",
        "editing: 15/16 images (94%) (14 skipped, already done)",
        "editing: 16/16 images (100%) 0.50 images/s done in 0:32 (14 skipped, already done)",
    ]
