"""`cocoedit demo --help` names the arms a default demo runs, and every command's summary in
`cocoedit --help` is one sentence on one docstring line (a line break in it shows in the list)."""

import re

import click
import typer.main
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.demo.settings import ARM_NAMES, DEFAULT_ARMS


def test_the_demo_help_lists_the_default_arms_in_order():
    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    listed = re.search(r"runs the default arms (.+?) over several seeds", text)
    assert listed, text
    named = re.findall(r"(\w+) \(", listed.group(1).replace(" and ", ", "))
    assert tuple(named) == DEFAULT_ARMS
    others = [a for a in ARM_NAMES if a not in DEFAULT_ARMS]
    on_request = re.search(r"; (.+?) run when the settings' arms name them", text)
    assert on_request and re.findall(r"\w+", on_request.group(1).replace(" and ", " ")) == others


def commands(group: click.Group, prefix: str = "cocoedit"):
    for name, command in group.commands.items():
        yield f"{prefix} {name}", command
        if isinstance(command, click.Group):
            yield from commands(command, f"{prefix} {name}")


def test_every_command_summary_is_one_line():
    split = [name for name, c in commands(typer.main.get_command(app)) if "\n" in (c.help or "").split("\n\n")[0]]
    assert not split, f"summaries broken over lines in `cocoedit --help`: {split}"
