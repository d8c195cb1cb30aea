"""``cocoedit view`` (the side-by-side page) and ``cocoedit rate`` (blind human rating)."""

from __future__ import annotations

import errno
import socket
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cocoedit.cli.common import Bench, CocoEditGroup, fail
from cocoedit.cli.progress import progress

rate_app = typer.Typer(
    cls=CocoEditGroup, no_args_is_help=True, help="Blind human rating of results folders in a local web app."
)


class RatingModeOption(str, Enum):
    pairwise = "pairwise"
    ranked = "ranked"


@rate_app.command("serve")
def rate_serve(
    bench: Annotated[Bench, typer.Option(help="Benchmark layout.")],
    bench_dir: Annotated[Path, typer.Option(help="Benchmark folder (with its metafile: instructions).")],
    results: Annotated[list[Path], typer.Option(help="Results folder; repeat (at least two).")],
    db: Annotated[Path, typer.Option(help="SQLite file of the study; an existing one is resumed.")],
    mode: Annotated[
        RatingModeOption, typer.Option(help="pairwise: A/B/tie; ranked: order every result.")
    ] = RatingModeOption.pairwise,
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1 = this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the per-rater order and sides.")] = 0,
) -> None:
    """Serve the rating page: raters see the instruction, the source and the results in random order."""
    from cocoedit.core.optional import require

    require("aiohttp", "cocoedit rate serve")
    from cocoedit.viewer.server import open_study, run_server

    check_port_free(host, port)  # before the study's database is created
    session, left_out = open_study(bench.value, bench_dir, results, db, mode.value, seed)
    for notice in session.notices:
        typer.echo(notice)
    if left_out:
        typer.echo(
            f"{len(left_out)} sample(s) left out: a results folder has no image for them (first: {left_out[:3]})"
        )
    typer.echo(f"{len(session.units)} {mode.value} task(s) per rater on {len(session.samples)} samples; ratings: {db}")
    typer.echo(f"raters open http://{host}:{port}/  (stop with Ctrl-C)")
    typer.echo(
        f"aggregate, for you only (it names the folders): http://{host}:{port}/results?token={session.admin_token}"
    )
    try:
        run_server(session, host, port)
    except OSError as e:  # taken between the check and the start
        raise fail(_port_problem(host, port, e)) from None
    finally:
        session.store.close()


def _port_problem(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use (another `cocoedit rate serve`?): stop it or pass --port N"
    if error.errno == errno.EACCES:
        return f"port {port} on {host}: permission denied (ports below 1024 need root): pass --port N above 1023"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"--host {host}: not an address of this machine: use 127.0.0.1 or this machine's own address"
    return f"cannot listen on {host}:{port} ({error.strerror or error})"


def check_port_free(host: str, port: int) -> None:
    """Refuse, in one line, a host and port the server could not listen on (in use, not allowed,
    not this machine's)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise fail(f"--host {host}: unknown host ({e.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind(address)
        except OSError as e:
            raise fail(_port_problem(host, port, e)) from None


@rate_app.command("export")
def rate_export(
    db: Annotated[Path, typer.Argument(help="The study's SQLite file.")],
    out: Annotated[Path, typer.Option(help="Folder for ratings.csv and ratings_summary.json.")],
    prior: Annotated[float, typer.Option(min=0.0, help="Prior tied comparisons per pair of folders.")] = 1.0,
    bootstrap: Annotated[int, typer.Option(min=10, help="Bootstrap resamples for the intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    min_agreement: Annotated[
        Optional[float],
        typer.Option(
            min=-1.0, max=1.0, help="Leave raters whose agreement with the others (Cohen's kappa) is below this out."
        ),
    ] = None,
) -> None:
    """Win rates and Bradley–Terry scores (Elo scale, 95 % bootstrap intervals), rater quality, as CSV and JSON."""
    from cocoedit.viewer.export import elo_text, export_ratings

    csv_path, json_path, summary = export_ratings(db, out, prior, bootstrap, seed, min_agreement)
    for s in summary["standings"]:
        rate = "–" if s["win_rate"] is None else f"{s['win_rate']:.3f}"
        interval = "" if s["elo_low"] is None else f" [{s['elo_low']:.0f}, {s['elo_high']:.0f}]"
        typer.echo(
            f"{s['label']}: win rate {rate} over {s['comparisons']:.0f} comparisons, "
            f"Bradley–Terry {elo_text(s)}{interval}"
        )
    degenerate = summary["method"]["degenerate_resamples"]
    if degenerate:
        typer.echo(
            f"{degenerate} of {bootstrap} bootstrap resamples had a folder that won or lost every comparison "
            "(no finite fit with --prior 0): left out of the intervals"
        )
    for warning in summary["warnings"]:
        typer.echo(f"warning: {warning}")
    for rater, q in summary["quality"]["raters"].items():
        kappa = "–" if q["agreement_kappa"] is None else f"{q['agreement_kappa']:.2f}"
        left = q["side_bias"]["left_share"]
        typer.echo(
            f"rater {rater}: {q['answers']} answer(s), agreement kappa {kappa}, "
            f"left won {'–' if left is None else f'{left:.2f}'}, ties {q['tie_share']:.2f}, "
            f"skips {q['skip_share']:.2f}"
            + (" (left out: agreement below the minimum)" if rater in summary["raters_dropped"] else "")
        )
    typer.echo(
        f"{summary['judgements']} answer(s) counted from {len(summary['raters'])} rater(s) -> {csv_path}, {json_path}"
    )


def view(
    bench: Annotated[Bench, typer.Option(help="Benchmark layout.")],
    bench_dir: Annotated[Path, typer.Option(help="Mask-annotated benchmark folder.")],
    results: Annotated[list[Path], typer.Option(help="Results folder; repeat to compare several.")],
    out: Annotated[Path, typer.Option(help="Folder for index.html and its images/.")],
    consistency: Annotated[
        Optional[Path],
        typer.Option(help="A `cocoedit eval consistency` output folder (else PSNR/SSIM/MAE are computed)."),
    ] = None,
    judge: Annotated[
        Optional[Path], typer.Option(help="A `cocoedit eval judge` output folder: scores, sub-scores, reasoning.")
    ] = None,
    ratings: Annotated[
        Optional[Path], typer.Option(help="A `cocoedit rate` study (.sqlite) or its ratings_summary.json.")
    ] = None,
    max_side: Annotated[
        int,
        typer.Option(
            min=0, help="A sample whose source is larger is stored shrunk to this (lossless PNG); 0 keeps every pixel."
        ),
    ] = 384,
) -> None:
    """One HTML page comparing results folders sample by sample: sortable, filterable, opens from disk."""
    from cocoedit.eval.benchmarks import load_benchmark
    from cocoedit.viewer.page import build_view

    with progress("rendering", len(load_benchmark(bench.value, bench_dir)), "samples") as task:
        page = build_view(bench.value, bench_dir, results, out, consistency, judge, ratings, task.advance, max_side)
    typer.echo(f"page: {page}")
