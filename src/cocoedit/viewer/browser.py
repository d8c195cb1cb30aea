"""Headless Chromium for checking pages as a person sees them: find the browser, take screenshots.

Playwright drives the browser; its own browser download is not used. The executable is taken
from ``COCOEDIT_CHROMIUM`` when set, else the first of ``chromium``, ``chromium-browser``,
``google-chrome`` on ``PATH`` (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cocoedit.core.errors import CocoEditError
from cocoedit.core.optional import require

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")


class BrowserNotFoundError(CocoEditError):
    """No Chromium executable was found."""


def find_chromium() -> str:
    """Path of a Chromium executable, or BrowserNotFoundError saying how to install one."""
    configured = os.environ.get("COCOEDIT_CHROMIUM")
    if configured:
        if not Path(configured).is_file():
            raise BrowserNotFoundError(f"COCOEDIT_CHROMIUM={configured}: no such file")
        return configured
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFoundError(
        "no Chromium found on PATH (looked for "
        + ", ".join(BROWSER_NAMES)
        + "); on Debian: apt-get install chromium, or set COCOEDIT_CHROMIUM"
    )


@contextmanager
def headless_browser() -> Iterator[Any]:
    """A Playwright ``Browser`` on the system Chromium, closed on exit."""
    sync_playwright = require("playwright.sync_api", "a headless browser (page screenshots)").sync_playwright
    executable = find_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(
    url_or_path: str | Path,
    out_png: str | Path,
    width: int = 1280,
    height: int = 900,
    full_page: bool = True,
    browser: Any = None,
) -> list[str]:
    """Load a page (an ``http(s)://`` URL or a local HTML file), save a PNG screenshot and return
    the page's console errors and failed requests, so that a check can assert there were none."""
    target = str(url_or_path)
    if not target.startswith(("http://", "https://", "file://")):
        target = Path(target).resolve().as_uri()
    if browser is None:
        with headless_browser() as own:
            return screenshot(target, out_png, width, height, full_page, own)
    page = browser.new_page(viewport={"width": width, "height": height})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    try:
        page.goto(target, wait_until="load")
        page.screenshot(path=str(out_png), full_page=full_page)
    finally:
        page.close()
    return problems
