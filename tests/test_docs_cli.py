"""Command lines named in the docs exist: every ``cocoedit <command> --option`` in the README, the
docs pages and the library's inline code is a command and option of the CLI, and every
Hugging Face command a message or page tells users to run (``hf download``, ``hf auth login``)
is one the pinned ``huggingface_hub`` installs; its removed ``huggingface-cli`` is named nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main
from click.testing import CliRunner

from cocoedit.cli import app

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = sorted((ROOT / "src" / "cocoedit").rglob("*.py"))
HF_COMMAND = re.compile(r"(?<![\w./-])hf ([a-z][a-z-]+)(?: ([a-z][a-z-]+))?")


def command_spans(markdown: str) -> list[str]:
    """Shell lines of fenced blocks (continuations joined) and inline code spans."""
    spans = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", markdown, flags=re.S | re.M):
        spans += re.sub(r"\s*\\\n\s*", " ", block).splitlines()
    outside = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return spans + re.findall(r"`+([^`\n]+)`+", outside)


def option_names(command) -> set[str]:
    names = {"--help"}
    for param in command.params:
        if param.param_type_name == "option":
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def cli_problems(span: str, root) -> list[str]:
    """What in one command span is not in the CLI: an unknown subcommand or option."""
    problems = []
    tokens = span.split()
    for i, token in enumerate(tokens):
        if token != "cocoedit" and not token.endswith("bin/cocoedit"):
            continue
        command, path, j = root, ["cocoedit"], i + 1
        while hasattr(command, "commands") and j < len(tokens) and tokens[j] in command.commands:
            command = command.commands[tokens[j]]
            path.append(tokens[j])
            j += 1
        if hasattr(command, "commands") and j < len(tokens) and re.fullmatch(r"[a-z][a-z-]*", tokens[j]):
            problems.append(f"{' '.join(path)} has no command {tokens[j]!r}")
            continue
        known = option_names(command)
        for word in tokens[j:]:
            if word in {"|", ";", "&&", "||", ">"} or word.startswith("#") or word.endswith("cocoedit"):
                break
            option = re.match(r"\[?(--?[a-zA-Z][\w-]*)", word)
            if option and option.group(1) not in known:
                problems.append(f"{' '.join(path)} has no option {option.group(1)}")
    return problems


def test_the_span_reader_finds_unknown_commands_and_options():
    root = typer.main.get_command(app)
    assert cli_problems("cocoedit eval consistency --bench gedit --results r --out o", root) == []
    assert cli_problems(".venv/bin/cocoedit report RUN [--out FILE] [--smoothing 0.6]", root) == []
    assert cli_problems("cocoedit eval consistancy --bench gedit", root) == [
        "cocoedit eval has no command 'consistancy'"
    ]
    assert cli_problems("cocoedit edit --modle X | grep --color", root) == ["cocoedit edit has no option --modle"]
    assert cli_problems("ls runs/cocoedit --out", root) == []  # a folder named cocoedit is not the command
    assert command_spans("a `cocoedit view --judge` b\n```bash\ncocoedit train \\\n  --resume\n```\n") == [
        "cocoedit train --resume",
        "cocoedit view --judge",
    ]


def test_every_cocoedit_command_line_in_the_docs_exists():
    root = typer.main.get_command(app)
    problems, checked = [], 0
    for path in [*PAGES, *SOURCES]:
        for span in command_spans(path.read_text(encoding="utf-8")):
            checked += "cocoedit " in span
            problems += [f"{path.relative_to(ROOT)}: `{span.strip()}`: {p}" for p in cli_problems(span, root)]
    assert checked > 100
    assert not problems, "\n".join(problems)


def test_hub_commands_named_to_users_exist_in_the_pinned_hub_cli():
    from huggingface_hub.cli.hf import app as hf_app

    runner = CliRunner()
    named = {
        tuple(w for w in m.groups() if w)
        for path in [*PAGES, *SOURCES]
        for m in HF_COMMAND.finditer(path.read_text(encoding="utf-8"))
    }
    assert ("auth", "login") in named and any(n[0] == "download" for n in named)
    for words in sorted(named):
        result = runner.invoke(hf_app, [*words, "--help"])
        assert result.exit_code == 0, f"`hf {' '.join(words)}` is not a command of the pinned huggingface_hub"
    assert runner.invoke(hf_app, ["auth", "logn", "--help"]).exit_code != 0  # the check can fail
    stale = [str(p.relative_to(ROOT)) for p in [*PAGES, *SOURCES] if "huggingface-cli" in p.read_text("utf-8")]
    assert not stale, f"name `hf`, not the removed `huggingface-cli`, in: {stale}"
