"""``cocoedit rate serve``: a local aiohttp app for blind human rating of results folders.

Routes (everything is served by this process; the page loads nothing from elsewhere):

* ``GET /`` the rating page; ``GET /static/{rate.js,rate.css}`` its script and style.
* ``GET /api/task?rater=ID`` the rater's current task: instruction, category, and image URLs that
  name the task and a display position, never a folder; with the rater's progress.
* ``GET /img/{task}/source`` and ``GET /img/{task}/{position}`` the images of a task.
* ``POST /api/vote`` ``{"rater", "task", "ranking": [[position, ...], ...]}`` (best group first).
* ``GET /results`` the aggregate as a page; ``GET /api/results`` as JSON (:mod:`.export`).

Folder names appear only on the results page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from cocoedit.core.formatting import format_number
from cocoedit.core.paths import is_really_inside
from cocoedit.core.reporting import html_page, html_table, section
from cocoedit.eval.benchmarks import BenchSample, result_path
from cocoedit.viewer.export import ratings_summary
from cocoedit.viewer.ratings import RatingError, RatingMode, RatingStore, Unit, check_rater, study_units

STATIC = ("rate.js", "rate.css", "rate.html")


@dataclass
class RatingSession:
    """What the app serves: the benchmark's samples, the folders compared and the store."""

    samples: dict[str, BenchSample]
    folders: dict[str, Path]  # label -> results folder
    store: RatingStore
    mode: RatingMode = "pairwise"
    seed: int = 0
    bootstrap: int = 1000
    units: list[Unit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.units = study_units(list(self.samples.values()), list(self.folders), self.mode)


def _static(name: str) -> str:
    return resources.files("cocoedit.viewer").joinpath("static").joinpath(name).read_text(encoding="utf-8")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _task_json(session: RatingSession, task) -> dict[str, Any]:
    sample = session.samples[task.sample_key]
    return {
        "id": task.id,
        "instruction": sample.instruction or "(the benchmark gives no instruction for this sample)",
        "category": sample.category,
        "source": f"/img/{task.id}/source",
        "shown": [f"/img/{task.id}/{i}" for i in range(len(task.shown))],
        "mode": session.mode,
    }


def create_app(session: RatingSession) -> web.Application:
    """The aiohttp application of one rating study."""
    app = web.Application()
    pages = {name: _static(name) for name in STATIC}
    total = len(session.units)

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=pages["rate.html"], content_type="text/html")

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in pages or name.endswith(".html"):
            raise web.HTTPNotFound()
        kind = "application/javascript" if name.endswith(".js") else "text/css"
        return web.Response(text=pages[name], content_type=kind)

    async def task(request: web.Request) -> web.Response:
        rater = request.query.get("rater", "")
        try:
            current = session.store.next_task(check_rater(rater), session.units, session.seed)
        except RatingError as e:
            return _error(400, str(e))
        progress = session.store.progress(rater, total)
        return web.json_response(
            {
                "task": None if current is None else _task_json(session, current),
                "progress": progress,
                "mode": session.mode,
            }
        )

    async def image(request: web.Request) -> web.StreamResponse:
        try:
            current = session.store.task(int(request.match_info["task"]))
        except (RatingError, ValueError):
            raise web.HTTPNotFound() from None
        sample = session.samples[current.sample_key]
        which = request.match_info["which"]
        if which == "source":
            path, root = sample.source, sample.root
        elif which.isdigit() and int(which) < len(current.shown):
            root = session.folders[current.shown[int(which)]]
            path = result_path(root, sample)
        else:
            raise web.HTTPNotFound()
        if not path.is_file():
            return _error(404, f"image missing for sample {sample.key}")
        if not is_really_inside(root, path):  # the read rule: never serve a file a link points out to
            return _error(403, f"image of sample {sample.key} is a link out of {root}")
        return web.FileResponse(path, headers={"Cache-Control": "no-store"})

    async def vote(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("task"), int):
            return _error(400, 'expected {"rater": ..., "task": <id>, "ranking": [[...], ...]}')
        try:
            session.store.vote(body["task"], body.get("rater", ""), body.get("ranking"))
        except RatingError as e:
            return _error(409 if "already rated" in str(e) else 400, str(e))
        return web.json_response({"ok": True, "progress": session.store.progress(body["rater"], total)})

    async def results_json(request: web.Request) -> web.Response:
        return web.json_response(ratings_summary(session.store, bootstrap=session.bootstrap))

    async def results_page(request: web.Request) -> web.Response:
        summary = ratings_summary(session.store, bootstrap=session.bootstrap)
        return web.Response(text=results_html(summary), content_type="text/html")

    async def no_icon(request: web.Request) -> web.Response:
        return web.Response(status=204)  # browsers ask for one; there is nothing to show

    app.add_routes(
        [
            web.get("/", index),
            web.get("/static/{name}", static),
            web.get("/api/task", task),
            web.get("/img/{task}/{which}", image),
            web.post("/api/vote", vote),
            web.get("/api/results", results_json),
            web.get("/results", results_page),
            web.get("/favicon.ico", no_icon),
        ]
    )
    return app


def standings_table(summary: dict[str, Any]) -> str:
    """The aggregate table: win rate and Bradley–Terry (Elo scale) with its interval, best first."""
    rows = []
    for s in summary["standings"]:
        interval = (
            "–"
            if s["elo_low"] is None
            else f"{format_number(s['elo_low'], 'int')} to {format_number(s['elo_high'], 'int')}"
        )
        rows.append(
            [s["label"], s["comparisons"], s["wins"], s["ties"], s["losses"], s["win_rate"], s["elo"], interval]
        )
    return html_table(
        ["results", "comparisons", "wins", "ties", "losses", "win rate", "Bradley–Terry (Elo scale)", "95 % interval"],
        rows,
    )


def results_html(summary: dict[str, Any]) -> str:
    raters = html_table(["rater", "answers"], list(summary["raters"].items())) if summary["raters"] else ""
    method = summary["method"]
    note = (
        f'<p class="muted">{summary["judgements"]} answer(s) from {len(summary["raters"])} rater(s). '
        f"{html.escape(method['model'])}; {method['prior_ties_per_pair']} prior tie(s) per pair; "
        f"{html.escape(method['scale'])}; {html.escape(method['interval'])}. Win rate = (wins + ties / 2) / "
        "comparisons. Maths: docs/viewer.md.</p>"
    )
    back = '<p><a href="/">back to rating</a></p>'
    return html_page(
        "Human ratings: aggregate",
        [
            section("Standings", note + standings_table(summary) + back),
            section("Raters", raters or '<p class="muted">No answer yet.</p>'),
        ],
        subtitle="Results folders compared: " + ", ".join(summary["study"]["folders"]),
    )


def run_server(session: RatingSession, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until interrupted (Ctrl-C)."""
    web.run_app(create_app(session), host=host, port=port, print=None)


def open_study(
    bench: str,
    bench_dir: str | Path,
    results: list[Path],
    db: str | Path,
    mode: RatingMode = "pairwise",
    seed: int = 0,
    bootstrap: int = 1000,
) -> tuple[RatingSession, list[str]]:
    """A rating session on a benchmark and results folders, recorded in (or resumed from) ``db``.

    Samples for which some folder has no result are left out of the study; their keys are returned.
    """
    from cocoedit.eval.benchmarks import BenchmarkError, load_benchmark
    from cocoedit.eval.consistency import results_labels

    for d in results:
        if not Path(d).is_dir():
            raise BenchmarkError(f"{d}: results folder not found")
    labels = results_labels(results)
    folders = {label: Path(d).resolve() for label, d in zip(labels, results, strict=True)}
    samples = load_benchmark(bench, bench_dir)  # type: ignore[arg-type]
    complete = {s.key: s for s in samples if all(result_path(d, s).is_file() for d in folders.values())}
    left_out = [s.key for s in samples if s.key not in complete]
    if not complete:
        raise BenchmarkError("no sample has a result in every results folder")
    store = RatingStore(db)
    try:
        store.configure(
            {
                "bench": bench,
                "bench_dir": str(Path(bench_dir).resolve()),
                "mode": mode,
                "folders": {k: str(v) for k, v in folders.items()},
                "seed": seed,
            }
        )
        session = RatingSession(complete, folders, store, mode, seed, bootstrap)
    except RatingError:
        store.close()
        raise
    return session, left_out
