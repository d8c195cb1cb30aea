"""`cocoedit report` on a `metrics.jsonl` with a bad line: a last line torn by a kill is skipped
with a warning naming file and line; any other bad line is a one-line error naming it."""

import json
import logging

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.rl.logging import MetricsFileError, read_metrics

ROWS = "".join(json.dumps({"step": s, "loss/policy": 1.0 / s}) + "\n" for s in (1, 2, 3))


def run_with(tmp_path, text: str | bytes):
    run = tmp_path / "run"
    run.mkdir()
    path = run / "metrics.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return run


def report(run):
    return CliRunner().invoke(app, ["report", str(run)])


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path, caplog):
    run = run_with(tmp_path, ROWS + '{"step": 4, "loss/pol')
    with caplog.at_level(logging.WARNING, logger="cocoedit.train"):
        assert [r["step"] for r in read_metrics(run)] == [1, 2, 3]
    assert f"{run / 'metrics.jsonl'}:4: skipped the last line, cut off mid-write" in caplog.text
    result = report(run)
    assert result.exit_code == 0, result.output
    assert "metrics.jsonl:4: skipped the last line" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"step": 2, "loss/pol\n', "Unterminated string"),
        ("[1, 2]\n", "list indices"),
        ('{"loss/policy": 1}\n', "'step'"),
        ('{"step": "two"}\n', "step is 'two', not an integer"),
    ],
)
def test_a_bad_middle_line_is_named(tmp_path, bad, reason):
    lines = ROWS.splitlines(keepends=True)
    run = run_with(tmp_path, lines[0] + bad + "".join(lines[1:]))
    with pytest.raises(MetricsFileError, match=rf"metrics.jsonl:2: not a metrics record \(.*{reason}"):
        read_metrics(run)
    result = report(run)
    assert result.exit_code == 2 and "metrics.jsonl:2: not a metrics record" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_a_line_that_is_not_utf8_is_named(tmp_path):
    run = run_with(tmp_path, ROWS.encode() + b'{"step": 4, "x": "\xff"}\n')
    result = report(run)
    assert result.exit_code == 2 and "metrics.jsonl:4: not UTF-8 text (byte 0xff)" in " ".join(result.output.split())
