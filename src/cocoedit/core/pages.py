"""Every HTML page of cocoedit is a Jinja2 template in ``cocoedit/templates/``, rendered here.

One rule for all pages: code passes data (strings, numbers, :class:`~cocoedit.core.reporting.Table`,
:class:`~cocoedit.core.reporting.Picture`), never HTML; the templates lay it out and Jinja2 escapes
every value (autoescaping on for every ``.html`` template, undefined names are errors). Shared parts:

* ``base.html``: the document (charset, viewport meta tag, title, the shared ``base.css``: fonts,
  keys, buttons, ``img.px``); every page extends it. Its ``styles`` block is the page's own style on
  top (``report.css`` for the reports, ``view.css`` added by the side-by-side page, the rating
  page's ``rate.css``).
* ``macros.html``: tables, pictures, tiles and notes, imported by the pages.
* Scripts and style sheets (``*.js``, ``*.css``) are inlined with ``asset(name)`` (reports open from
  disk, with nothing loaded from elsewhere) or served as files by the rating app (:func:`asset_text`).
"""

from __future__ import annotations

import html
import json
import math
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from cocoedit.core.formatting import format_number

TEMPLATE_PACKAGE = "cocoedit"
TEMPLATE_FOLDER = "templates"
ASSET_SUFFIXES = (".js", ".css")


@cache
def environment() -> jinja2.Environment:
    """The one Jinja2 environment: templates from the package, autoescaping, strict undefined."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_FOLDER),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=_escaped,
    )
    env.globals["asset"] = inline_asset
    env.filters["json_script"] = json_script
    env.filters["number"] = format_number
    return env


def _escaped(value: Any) -> Any:
    """Every value a template prints, escaped as :func:`html.escape` does (quotes included); markup
    made by the templates themselves (macros, :func:`inline_asset`) passes through."""
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape(str(value)))


def asset_text(name: str) -> str:
    """The text of a script or style sheet of the templates folder (``rate.js``, ``view.css``, ...)."""
    if not name.endswith(ASSET_SUFFIXES) or "/" in name or "\\" in name:
        raise ValueError(f"{name!r} is not a script or style sheet of the templates folder")
    source, _, _ = environment().loader.get_source(environment(), name)  # type: ignore[union-attr]
    return source


def inline_asset(name: str) -> Markup:
    """A script or style sheet to inline in a ``<script>`` or ``<style>`` element, unescaped (it is ours)."""
    text = asset_text(name)
    closing = "</script" if name.endswith(".js") else "</style"
    if closing in text.lower():
        raise ValueError(f"{name} contains {closing!r}, which would end the element it is inlined in")
    return Markup(text)


def json_script(value: Any) -> Markup:
    """``value`` as JSON that is safe inside a ``<script type="application/json">`` element.

    ``<``, ``>`` and ``&`` are written as ``\\u003c`` etc., so no string in the data can close the
    element or open a comment; ``JSON.parse`` reads them back unchanged. NaN and infinities, which
    JSON cannot hold, become ``null``.
    """
    text = json.dumps(_finite(value), ensure_ascii=False, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def render(template: str, **context: Any) -> str:
    """Render ``template`` (a file of the templates folder) with ``context``; the page's text."""
    return environment().get_template(template).render(**context)


def template_names() -> list[str]:
    """Every page and partial of the templates folder (``*.html``)."""
    return sorted(n for n in environment().list_templates() if n.endswith(".html"))
