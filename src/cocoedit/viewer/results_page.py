"""The aggregate of a rating study as a page (template ``rate_results.html``), for the admin only:
the standings and each rater's quality."""

from __future__ import annotations

from typing import Any

from cocoedit.core.formatting import format_number
from cocoedit.core.pages import render
from cocoedit.core.reporting import Table, table
from cocoedit.viewer.export import elo_text


def standings_table(summary: dict[str, Any]) -> Table:
    """The aggregate table: win rate and Bradley–Terry (Elo scale) with its interval, best first."""
    rows = []
    for s in summary["standings"]:
        interval = (
            "–"
            if s["elo_low"] is None
            else f"{format_number(s['elo_low'], 'int')} to {format_number(s['elo_high'], 'int')}"
        )
        rows.append(
            [
                s["label"],
                s["comparisons"],
                s["wins"],
                s["ties"],
                s["losses"],
                s.get("both_bad", 0),
                s["win_rate"],
                elo_text(s),
                interval,
            ]
        )
    return table(
        [
            "results",
            "comparisons",
            "wins",
            "ties",
            "losses",
            "both bad (of the ties)",
            "win rate",
            "Bradley–Terry (Elo scale)",
            "95 % interval",
        ],
        rows,
        kinds=["auto", "int", "int", "int", "int", "int", "similarity", "int", "auto"],
    )


def quality_table(summary: dict[str, Any]) -> Table:
    """Per rater: answers, agreement with the others, side bias, pace, shares of ties, both bad, skips."""
    rows = []
    for rater, q in summary["quality"]["raters"].items():
        bias = q["side_bias"]
        rows.append(
            [
                rater,
                q["answers"],
                q["agreement_kappa"],
                q["shared_ratings"],
                bias["left_share"],
                bias["p_value"],
                q["answers_per_minute"],
                q["tie_share"],
                q["both_bad_share"],
                q["skip_share"],
                q["undone"],
                "dropped" if rater in summary["raters_dropped"] else "",
            ]
        )
    return table(
        [
            "rater",
            "answers",
            "agreement (Cohen's κ)",
            "shared ratings",
            "left won (share)",
            "left bias p",
            "answers per minute",
            "tie share",
            "both-bad share",
            "skip share",
            "undone",
            "",
        ],
        rows,
        kinds=[
            "auto",
            "int",
            "similarity",
            "int",
            "similarity",
            "similarity",
            "score",
            "similarity",
            "similarity",
            "similarity",
            "int",
            "auto",
        ],
    )


def results_html(summary: dict[str, Any]) -> str:
    return render(
        "rate_results.html",
        title="Human ratings: aggregate",
        subtitle="Results folders compared: " + ", ".join(summary["study"]["folders"]),
        summary=summary,
        standings=standings_table(summary),
        quality=quality_table(summary) if summary["quality"]["raters"] else None,
    )
