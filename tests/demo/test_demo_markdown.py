"""results.md: the demo's table as Markdown, from summary.json alone."""

from cocoedit.demo.statement import paired_change
from cocoedit.demo.summary import PLUMBING_NOTE, markdown_summary


def spread(mean, std):
    return {"mean": mean, "std": std, "per_seed": []}


def summary(plumbing):
    base = {
        "title": "base editor (SFT)",
        "edit_success": spread(0.6, 0.01),
        "keep_psnr": spread(22.0, 0.1),
        "keep_ssim": spread(0.8, 0.01),
    }
    arm = {
        "title": "(a) judge only",
        "edit_success": spread(0.65, 0.01),
        "keep_psnr": spread(20.0, 0.2),
        "keep_ssim": spread(0.7, 0.01),
        "vs_base": {"edit_success": paired_change([0.05, 0.04, 0.06]), "keep_psnr": paired_change([-2.0, 1.0, -2.0])},
    }
    return {
        "plumbing_check": plumbing,
        "seeds": [0, 1, 2],
        "test_samples": 60,
        "table": {"base": base, "judge": arm},
        "statement": ([PLUMBING_NOTE] if plumbing else []) + ["(a) judge only: a sentence."],
        "seconds": {"task": 7.0, "rl_arms": 300.4},
        "base_spread": {
            "seeds": 3,
            "spread_edit": 0.12,
            "spread_keep": 0.05,
            "edit_success_std": 0.08,
            "informative_share": 0.9,
            "threshold": 0.02,
        },
        "first_step_signal": {"informative_share": 0.85, "groups": 24},
        "environment": {
            "commit": "0123456789ab",
            "uncommitted_changes": False,
            "date": "2026-12-08 10:00 UTC",
            "host": "box",
            "cpus": 2,
            "python": "3.11.9",
            "torch": "2.13.0+cpu",
            "torch_threads_per_run": 1,
            "workers": 2,
        },
    }


def test_table_rows_deltas_and_seconds():
    text = markdown_summary(summary(False))
    assert "| base editor (SFT) | 0.600 ± 0.010 | 22.00 ± 0.10 | 0.800 ± 0.010 |  |  |" in text
    # +0.050, sd 0.01 over 3 seeds: t_{0.975, 2} = 4.303, half-width 0.025, starred; -1.00 +- 4.30 is not.
    assert (
        "| (a) judge only | 0.650 ± 0.010 | 20.00 ± 0.20 | 0.700 ± 0.010 | +0.050 [+0.025, +0.075] * "
        "| -1.00 [-5.30, +3.30] |" in text
    )
    assert "95 % paired t interval, n − 1 degrees of freedom" in text
    assert "(a) judge only: a sentence." in text
    assert "RMS difference 0.120 on the edit region and 0.050 on the keep region" in text
    assert "above 0.02 for 90% of the pairs. Groups above the std threshold at the first RL step: 85% of 24." in text
    assert "Run: commit 0123456789ab, 2026-12-08 10:00 UTC, host box (2 CPUs), Python 3.11.9, torch 2.13.0+cpu" in text
    assert "1 torch thread per run, 2 runs at a time." in text
    assert "Seconds per stage: task 7, rl_arms 300 (total 307)." in text
    assert "PLUMBING" not in text


def test_plumbing_check_heads_the_page():
    text = markdown_summary(summary(True))
    assert text.startswith(f"**{PLUMBING_NOTE}**") and text.count("PLUMBING CHECK") == 1
