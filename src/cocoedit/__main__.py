"""``python -m cocoedit``: the command line (what `accelerate launch -m cocoedit` and torchrun run)."""

from cocoedit.cli import app

app(prog_name="cocoedit")
