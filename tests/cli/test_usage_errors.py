"""Usage mistakes are one line naming the mistake and the command's --help, exit status 2; flags
show no value type in --help, and ``--resume true`` says that flags take no value."""

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args, named",
    [
        (["train", "--resume", "true", "--run-dir", "r"], "flags such as --resume take no value"),
        (["train", "--run-dir", "r", "--bogus"], "No such option: --bogus"),
        (["edit", "--model", "m"], "choose one mode"),
        (["edit", "--model", "m", "--steps", "0"], "--steps"),
        (["nope"], "No such command 'nope'"),
        (["data", "import", "t.jsonl"], "--out"),
    ],
)
def test_a_usage_mistake_is_one_line(args, named):
    result = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert named in lines[0]
    assert "--help" in lines[0]


def test_flags_are_shown_without_a_value_type():
    help_text = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "160"}).output
    resume = next(line for line in help_text.splitlines() if "--resume" in line and "Continue" in line)
    assert "<bool>" not in resume
    assert "<path>" in next(line for line in help_text.splitlines() if "--run-dir" in line)  # values keep theirs


def test_a_group_without_a_command_still_prints_its_help():
    result = runner.invoke(app, ["data"])
    assert "validate" in result.output and "import" in result.output
    assert "error:" not in result.output
