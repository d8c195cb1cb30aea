"""The ``cocoedit`` command line: one module per command group. Each command parses its options,
calls one library function and prints. Heavy imports (torch, diffusers) happen inside the commands
so that ``--help`` stays fast.

Errors a user can fix (:class:`~cocoedit.core.errors.CocoEditError`, usage mistakes, a full disk)
print as one line and exit with status 2; exit status 1 means the command ran but some items failed (a manifest with bad
rows, a batch with failed samples); anything else is a bug and shows its traceback.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cocoedit.cli import configs, data, demo, dev, edit, eval, train, viewer
from cocoedit.cli.common import CocoEditGroup, setup_logging

app = typer.Typer(
    cls=CocoEditGroup,
    no_args_is_help=True,
    add_completion=False,
    help="Content-consistent RL post-training of instruction-based image editors.",
)


@app.callback()
def _main(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Also show the libraries' own warnings and progress bars (transformers, diffusers, "
            "huggingface_hub, Python warnings).",
        ),
    ] = False,
) -> None:
    setup_logging(verbose)


app.add_typer(configs.app, name="configs")
app.add_typer(data.app, name="data")
app.add_typer(eval.app, name="eval")
app.add_typer(dev.app, name="dev")
app.add_typer(viewer.rate_app, name="rate")
app.command("demo")(demo.demo)
app.command("sft")(demo.sft)
app.command("train")(train.train)
app.command("report")(train.report)
app.command("edit")(edit.edit)
app.command("view")(viewer.view)
