"""One way to write pages: Jinja2 templates with autoescaping in one folder, a viewport meta tag on
every page, and no Python module that writes HTML itself."""

import ast
import json
import re
from pathlib import Path

import jinja2
import pytest

from cocoedit.core.pages import environment, inline_asset, json_script, render, template_names
from cocoedit.core.reporting import Cell, Picture, table

PACKAGE = Path(__file__).parents[2] / "src" / "cocoedit"
HTML_TAGS = (
    "html|head|body|title|meta|link|style|script|section|main|header|div|span|p|a|b|i|em|strong|q|code|pre|kbd|br|"
    "h[1-6]|table|thead|tbody|tr|td|th|img|figure|figcaption|ul|ol|li|details|summary|button|form|input|label|"
    "select|option|progress"
)
TAG = re.compile(rf"(?<!\?P)</?(?:{HTML_TAGS})(?:\s[^<>]*)?/?>", re.IGNORECASE)  # not a regex group (?P<label>)
PARTIALS = {"base.html", "macros.html", "consistency_sections.html"}
HOSTILE = "<script>alert('x')</script> & \"quoted\""


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def test_no_python_module_writes_html():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                if TAG.search(node.value):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value[:60]!r}")
        if "Markup(" in path.read_text(encoding="utf-8") and path.name != "pages.py":
            offenders.append(f"{path.relative_to(PACKAGE)}: makes Markup (only core/pages.py may)")
    assert not offenders, "HTML written in Python, not in a template:\n" + "\n".join(offenders)


def test_every_page_extends_the_base_with_its_viewport_meta_tag():
    folder = PACKAGE / "templates"
    pages = [n for n in template_names() if n not in PARTIALS]
    assert {"rate.html", "view.html", "training_report.html", "consistency_report.html", "demo_report.html"} <= set(
        pages
    )
    for name in pages:
        assert (folder / name).read_text(encoding="utf-8").count('{% extends "base.html" %}') == 1, name
    base = (folder / "base.html").read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in base
    page = render("rate.html", title="rate", token="T", mode="pairwise")
    assert page.startswith("<!DOCTYPE html>") and '<meta name="viewport"' in page and 'content="T"' in page


def test_values_are_escaped_everywhere_and_markup_only_comes_from_templates():
    t = table(["name", HOSTILE], [[HOSTILE, 1.5], [Cell(HOSTILE, "bad"), None]])
    macros = environment().get_template("macros.html").module
    html = str(macros.table(t))
    assert "<script>" not in html and html.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") == 3
    assert "&amp; &quot;quoted&quot;" in html and '<span class="bad">' in html and "<td>–</td>" in html
    picture = Picture('x" onerror="alert(1)', alt=HOSTILE, caption=HOSTILE, width=3, height=2, pixelated=True)
    figure = str(macros.figure(picture))
    assert 'src="x&quot; onerror=&quot;alert(1)"' in figure and 'class="px"' in figure and "<script>" not in figure
    # A template string is escaped too, and a name the template does not get is an error, not "".
    assert environment().from_string("{{ v }}").render(v=HOSTILE).startswith("&lt;script&gt;")
    with pytest.raises(jinja2.UndefinedError):
        environment().from_string("{{ missing }}").render()


def test_json_in_a_script_element_cannot_close_it():
    value = {"text": "</script><script>alert(1)</script><!--", "nan": float("nan"), "list": [1, float("inf")]}
    text = str(json_script(value))
    assert "</" not in text and "<" not in text
    assert json.loads(text) == {"text": value["text"], "nan": None, "list": [1, None]}


def test_inlined_scripts_and_styles_are_our_own_files_only():
    assert "function" in inline_asset("view.js") and "image-rendering:pixelated" in inline_asset("base.css")
    for bad in ("../core/pages.py", "base.html", "rate.js/../x.js"):
        with pytest.raises(ValueError):
            inline_asset(bad)


def test_every_page_gets_the_shared_style_whatever_its_own():
    shared = str(inline_asset("base.css"))
    assert "img.px{image-rendering:pixelated" in shared and "kbd{" in shared and "button:disabled" in shared
    rating = render("rate.html", title="t", token="x", mode="pairwise")  # its own style is rate.css
    assert shared in rating and 'href="/static/rate.css"' in rating and str(inline_asset("report.css")) not in rating
    report = environment().from_string('{% extends "base.html" %}').render(title="t", subtitle="")
    assert shared in report and str(inline_asset("report.css")) in report
    for page_style in ("report.css", "rate.css", "view.css"):  # defined once, in the shared sheet
        assert "kbd{" not in inline_asset(page_style) and "font-family" not in inline_asset(page_style), page_style
