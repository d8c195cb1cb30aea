"""Fixtures of the viewer tests: a small benchmark and a rating app served on 127.0.0.1."""

import asyncio
import threading
from contextlib import contextmanager

import pytest


@pytest.fixture(scope="session")
def small_bench(tmp_path_factory):
    """One sample per category (3 samples) with the three synthetic editors' results."""
    from cocoedit.eval.sample_bench import make_sample_benchmark

    return make_sample_benchmark(tmp_path_factory.mktemp("viewer-bench"), "gedit", per_category=1)


@contextmanager
def serving(app):
    """Run an aiohttp app on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    from aiohttp import web

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    ready = threading.Event()
    box = {}

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        box["port"] = site._server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "the rating app did not start"
    try:
        yield f"http://127.0.0.1:{box['port']}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
