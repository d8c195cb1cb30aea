"""``cocoedit rate serve``: a local aiohttp app for blind human rating of results folders.

Routes (everything is served by this process; the page loads nothing from elsewhere):

* ``GET /`` the rating page (template ``rate.html``, with the page token); ``GET /static/rate.js``
  and ``/static/rate.css``.
* ``GET /api/task?rater=ID`` the rater's current task: instruction, category, and image URLs that
  name the task and a display position, never a folder; the rater's progress and latest answer.
* ``GET /img/{task}/source`` and ``GET /img/{task}/{position}`` the images of a task, re-encoded
  by :mod:`.blind` (plain PNG at the source's size).
* ``POST /api/vote`` ``{"rater", "task", "kind": "rank"|"both_bad"|"skip", "ranking": [[position,
  ...], ...]}`` (best group first) and ``POST /api/undo`` ``{"rater", "task"}`` (the latest answer).
  Both need a JSON body and the page token in the ``X-Rating-Token`` header, and refuse another
  origin: a page elsewhere can neither read the token nor send that header without the browser
  asking first (which this app never allows), so cross-site posts are refused.
* ``GET /results?token=ADMIN`` the aggregate as a page, ``GET /api/results?token=ADMIN`` as JSON:
  the admin token is printed at start-up; nothing on the rater's pages links there.

Blind by construction: folder names appear only behind the admin token; every response carries the
same neutral caching headers (no ETag, no Last-Modified, ``no-store``), errors included; anything
else is a 404, and an unexpected failure a 500 that says nothing (its traceback goes to the log).

Only the host names the server was started for are answered (``Host`` and ``Origin``; anything
else is a 421): a web page whose own name is re-pointed at this machine (DNS rebinding) is refused.

The page token is the study's (kept in its SQLite file), so a page left open across a restart of the
server can still save its answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from cocoedit.core.pages import asset_text, render
from cocoedit.eval.benchmarks import BenchSample, result_path
from cocoedit.viewer.blind import BlindImages, Served, prepare
from cocoedit.viewer.export import ratings_summary
from cocoedit.viewer.ratings import RatingError, RatingMode, RatingStore, Task, Unit, check_rater, study_units
from cocoedit.viewer.results_page import results_html

ASSETS = {"rate.js": "application/javascript", "rate.css": "text/css"}
TOKEN_HEADER = "X-Rating-Token"
MAX_TASK_ID = 2**31 - 1
NEUTRAL_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",  # no other site may frame the answer buttons
}
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
log = logging.getLogger(__name__)


@dataclass
class RatingSession:
    """What the app serves: the benchmark's samples, the folders compared, the store, the tokens."""

    samples: dict[str, BenchSample]
    folders: dict[str, Path]  # label -> results folder
    store: RatingStore
    mode: RatingMode = "pairwise"
    seed: int = 0
    bootstrap: int = 1000
    units: list[Unit] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # for the console (e.g. a secret drawn on resume)
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    page_token: str = ""  # "" = the study's own, kept in its file across restarts

    def __post_init__(self) -> None:
        self.units = study_units(list(self.samples.values()), list(self.folders), self.mode)
        self.page_token = self.page_token or self.store.page_token()


def _error(status: int, message: str, **extra: str) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def allowed_host_names(host: str) -> frozenset[str]:
    """The names a request may give in ``Host`` / ``Origin`` for a server listening on ``host``: that
    name, the loopback names when it is a loopback address (or ``localhost``), and this machine's
    names when it listens on every address (any IP address is then accepted too, see
    :func:`host_allowed`)."""
    name = host.strip("[]").lower()
    names = {name}
    if name in WILDCARD_HOSTS:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()} | LOOPBACK_NAMES
    elif name == "localhost" or _is_loopback(name):
        names |= LOOPBACK_NAMES
    return frozenset(names)


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(value: str | None, names: frozenset[str]) -> bool:
    """Whether a ``Host`` value (``name[:port]``) names this server. On every address (``0.0.0.0``)
    an IP address is accepted as well: a page can only be re-pointed at this machine through a name."""
    try:
        name = urlsplit(f"//{value}").hostname if value else None
    except ValueError:
        return False
    if name is None:
        return False
    if name in names:
        return True
    if names & WILDCARD_HOSTS:
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return False
    return False


def guard(host_names: frozenset[str]):
    """The middleware: only this server's host names are answered (421 otherwise); every response,
    errors included, carries the same caching and safety headers and nothing from files; an
    unexpected failure is a 500 that reveals nothing (its traceback goes to the log)."""

    @web.middleware
    async def middleware(request: web.Request, handler) -> web.StreamResponse:
        if not host_allowed(request.headers.get("Host"), host_names):
            response: web.StreamResponse = _error(
                421, "this server does not answer to that host name; open the address printed at its start"
            )
        else:
            try:
                response = await handler(request)
            except web.HTTPException as e:
                response = _error(e.status, e.reason)
            except Exception:
                log.exception("rating app: %s %s failed", request.method, request.path)
                response = _error(500, "internal error (the server's console has the details)")
        for name in ("ETag", "Last-Modified"):
            response.headers.pop(name, None)
        response.headers.update(NEUTRAL_HEADERS)
        return response

    return middleware


def _task_json(session: RatingSession, task: Task) -> dict[str, Any]:
    sample = session.samples[task.sample_key]
    return {
        "id": task.id,
        "instruction": sample.instruction or "(the benchmark gives no instruction for this sample)",
        "category": sample.category,
        "source": f"/img/{task.id}/source",
        "shown": [f"/img/{task.id}/{i}" for i in range(len(task.shown))],
        "mode": session.mode,
    }


def _image_jobs(session: RatingSession, task: Task) -> list[tuple[str, Path, Path, str]]:
    """``(which, path, root, name in errors)`` of a task's images, the source first."""
    sample = session.samples[task.sample_key]
    jobs = [("source", sample.source, sample.root, f"sample {sample.key}, source")]
    for i, label in enumerate(task.shown):
        root = session.folders[label]
        jobs.append((str(i), result_path(root, sample), root, f"sample {sample.key}, result {chr(65 + i)}"))
    return jobs


async def _prepare_images(session: RatingSession, images: BlindImages, task: Task) -> None:
    """Encode the task's images (off the event loop) unless they are still prepared."""
    if all(images.get(task.id, which) is not None for which, *_ in _image_jobs(session, task)):
        return
    loop = asyncio.get_running_loop()
    size = None
    for which, path, root, what in _image_jobs(session, task):
        served, own_size = await loop.run_in_executor(None, prepare, path, root, what, size)
        if which == "source":
            size = own_size  # results are served at the source's size
        images.put(task.id, which, served)


def _check_post(session: RatingSession, request: web.Request) -> web.Response | None:
    """Refuse a post that is not JSON, lacks the page token, or comes from another origin (one
    that is not this server's address, by a name the server answers to)."""
    if request.content_type != "application/json":
        return _error(415, "answers must be sent as JSON (Content-Type: application/json)")
    if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), session.page_token):
        return _error(403, "this request does not carry the rating page's token; reload the page", refused="token")
    origin = request.headers.get("Origin")
    # Host is one of this server's names (checked for every request), so this is the same list.
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return _error(403, f"requests from {origin} are refused")
    return None


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise RatingError("the body must be JSON") from None
    task = body.get("task") if isinstance(body, dict) else None
    if not isinstance(task, int) or isinstance(task, bool) or not 0 < task <= MAX_TASK_ID:
        raise RatingError('expected {"rater": ..., "task": <id>, ...}')
    if not isinstance(body.get("rater"), str):
        raise RatingError("rater must be a string")
    return body


def create_app(session: RatingSession, host: str = "127.0.0.1") -> web.Application:
    """The aiohttp application of one rating study, answering to the names of ``host`` (the
    address it listens on, :func:`allowed_host_names`)."""
    host_names = allowed_host_names(host)
    app = web.Application(middlewares=[guard(host_names)])
    page = render("rate.html", title="cocoedit: rate edits", token=session.page_token, mode=session.mode)
    total = len(session.units)
    images = BlindImages()

    def admin(request: web.Request) -> web.Response | None:
        if not secrets.compare_digest(request.query.get("token", ""), session.admin_token):
            return _error(403, "the aggregate needs the admin token printed when the server started")
        return None

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return web.Response(text=asset_text(name), content_type=ASSETS[name])

    async def task(request: web.Request) -> web.Response:
        rater = request.query.get("rater", "")
        try:
            current = session.store.next_task(check_rater(rater), session.units, session.seed)
        except RatingError as e:
            return _error(400, str(e))
        if current is not None:
            await _prepare_images(session, images, current)
        return web.json_response(
            {
                "task": None if current is None else _task_json(session, current),
                "progress": session.store.progress(rater, total),
                "last_answer": session.store.last_answer(rater),
                "mode": session.mode,
            }
        )

    async def image(request: web.Request) -> web.Response:
        try:
            current = session.store.task(int(request.match_info["task"]))
        except RatingError:
            raise web.HTTPNotFound() from None
        which = request.match_info["which"]
        if which != "source" and int(which) >= len(current.shown):
            raise web.HTTPNotFound()
        served: Served | None = images.get(current.id, which)
        if served is None:
            await _prepare_images(session, images, current)
            served = images.get(current.id, which)
        if served is None:
            raise web.HTTPNotFound()
        if served.png is None:
            return _error(served.status, served.error)
        return web.Response(body=served.png, content_type="image/png")

    async def vote(request: web.Request) -> web.Response:
        refused = _check_post(session, request)
        if refused is not None:
            return refused
        try:
            body = await _json_body(request)
            session.store.vote(body["task"], body["rater"], body.get("ranking"), body.get("kind", "rank"))
        except RatingError as e:
            return _error(409 if "already answered" in str(e) else 400, str(e))
        return web.json_response(
            {"ok": True, "progress": session.store.progress(body["rater"], total), "last_answer": body["task"]}
        )

    async def undo(request: web.Request) -> web.Response:
        refused = _check_post(session, request)
        if refused is not None:
            return refused
        try:
            body = await _json_body(request)
            session.store.undo(body["task"], body["rater"])
        except RatingError as e:
            return _error(409 if "latest" in str(e) else 400, str(e))
        rater = body["rater"]
        return web.json_response({"ok": True, "progress": session.store.progress(rater, total), "last_answer": None})

    async def results_json(request: web.Request) -> web.Response:
        return admin(request) or web.json_response(ratings_summary(session.store, bootstrap=session.bootstrap))

    async def results_page(request: web.Request) -> web.Response:
        refused = admin(request)
        if refused is not None:
            return refused
        summary = ratings_summary(session.store, bootstrap=session.bootstrap)
        return web.Response(text=results_html(summary), content_type="text/html")

    async def no_icon(request: web.Request) -> web.Response:
        return web.Response(status=204)  # browsers ask for one; there is nothing to show

    app.add_routes(
        [
            web.get("/", index),
            web.get(r"/static/{name:rate\.js|rate\.css}", static),
            web.get("/api/task", task),
            # canonical numbers only (no leading zero): one address per image
            web.get(r"/img/{task:[1-9][0-9]{0,8}}/{which:source|[0-9]|[1-9][0-9]}", image),
            web.post("/api/vote", vote),
            web.post("/api/undo", undo),
            web.get("/api/results", results_json),
            web.get("/results", results_page),
            web.get("/favicon.ico", no_icon),
        ]
    )
    return app


def run_server(session: RatingSession, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until interrupted (Ctrl-C)."""
    web.run_app(create_app(session, host), host=host, port=port, print=None)


def open_study(
    bench: str,
    bench_dir: str | Path,
    results: list[Path],
    db: str | Path,
    mode: RatingMode = "pairwise",
    seed: int = 0,
    bootstrap: int = 1000,
    secret: str | None = None,
) -> tuple[RatingSession, list[str]]:
    """A rating session on a benchmark and results folders, recorded in (or resumed from) ``db``.

    Samples for which some folder has no result are left out of the study; their keys are returned.
    ``secret`` seeds the orders with ``seed`` (:mod:`.ratings`); None draws one for a new study.
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
        notices = store.configure(
            {
                "bench": bench,
                "bench_dir": str(Path(bench_dir).resolve()),
                "mode": mode,
                "folders": {k: str(v) for k, v in folders.items()},
                "seed": seed,
            },
            secret,
        )
        session = RatingSession(complete, folders, store, mode, seed, bootstrap, notices=notices)
    except RatingError:
        store.close()
        raise
    return session, left_out
