"""What `cocoedit demo` prints at the end: the table (titled a plumbing check under --quick), the
paired differences with their intervals, the statement and the seconds per stage."""

import pytest

from cocoedit.cli.common import console
from cocoedit.cli.demo import _print_demo_summary
from cocoedit.demo.statement import paired_change
from cocoedit.demo.summary import PLUMBING_NOTE


def summary(plumbing):
    def spread(mean):
        return {"mean": mean, "std": 0.01, "per_seed": []}

    arm = {
        "title": "(a) judge only",
        "edit_success": spread(0.7),
        "keep_psnr": spread(20.0),
        "keep_ssim": spread(0.7),
        "vs_base": {"edit_success": paired_change([0.05, 0.04, 0.06]), "keep_psnr": paired_change([-2.0, 1.0, -2.0])},
    }
    base = {"title": "base", "edit_success": spread(0.6), "keep_psnr": spread(22.0), "keep_ssim": spread(0.8)}
    return {
        "plumbing_check": plumbing,
        "seeds": [0, 1, 2],
        "table": {"base": base, "judge": arm},
        "statement": ([PLUMBING_NOTE] if plumbing else []) + ["A sentence."],
        "seconds": {"task": 4.2, "base_editor": 190.6, "rl_arms": 226.0},
    }


@pytest.mark.parametrize("plumbing", [True, False])
def test_console_summary(plumbing, capsys, monkeypatch):
    monkeypatch.setattr(console, "width", 160)  # cells unwrapped
    with console.capture() as table:
        _print_demo_summary(summary(plumbing))
    printed = table.get()
    assert ("PLUMBING CHECK, numbers mean nothing" in printed) is plumbing
    # paired differences with their 95 % t interval, * when it excludes 0
    assert "+0.050 [+0.025, +0.075] *" in printed and "-1.00 [-5.30, +3.30]" in printed
    lines = capsys.readouterr().out
    assert "A sentence." in lines
    assert "time per stage: task 4 s, base_editor 191 s, rl_arms 226 s (total 421 s)" in lines
