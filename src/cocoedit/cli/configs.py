"""``cocoedit configs list / show``: the presets that ship inside the package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cocoedit.cli.common import CocoEditGroup, fail

app = typer.Typer(
    cls=CocoEditGroup,
    no_args_is_help=True,
    help="The shipped presets: list them, print one, copy one out to edit (any --config takes their names).",
)


@app.command("list")
def list_() -> None:
    """Every shipped preset: its name, the command that reads it, and what it is."""
    from cocoedit.core.presets import PRESETS_FOLDER, list_presets

    presets = list_presets()
    header = ("name", "for", "description")
    rows = [(p.name, f"cocoedit {p.command}", p.description) for p in presets]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(2)]
    for row in [header, *rows]:
        typer.echo(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip())
    typer.echo(
        f"{len(presets)} presets in {PRESETS_FOLDER} (print one: cocoedit configs show NAME; --out FILE copies it)"
    )


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A preset's name (cocoedit configs list).")],
    out: Annotated[
        Optional[Path],
        typer.Option(help="Write a copy here to edit (a folder: FOLDER/NAME.yaml) instead of printing it."),
    ] = None,
) -> None:
    """Print a preset's YAML, or copy it out with --out (then: --config FILE)."""
    from cocoedit.core.presets import find_preset

    preset = find_preset(name)
    if out is None:
        typer.echo(preset.path.read_text(encoding="utf-8"), nl=False)
        return
    target = out / preset.path.name if out.is_dir() else out
    if target.exists() or target.is_symlink():
        raise fail(f"{target}: already exists; give another --out (nothing was written)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "x", encoding="utf-8") as copy:
            copy.write(preset.path.read_text(encoding="utf-8"))
    except OSError as e:
        raise fail(f"{target}: cannot be written ({e.strerror})") from None
    typer.echo(f"{preset.name} -> {target} (edit it, then: cocoedit {preset.command} --config {target})")
