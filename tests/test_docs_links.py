"""The docs stand alone: every ``method.md §x`` citation (in docs, docstrings, configs, tests,
README and CHANGELOG) names a section of ``docs/method.md``, every heading of that page has a
stable anchor, and every relative link between the docs pages and from the README reaches an
existing file and anchor."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
METHOD = ROOT / "docs" / "method.md"
CITING = [ROOT / "README.md", ROOT / "CHANGELOG.md"] + [
    p
    for folder in ("docs", "src", "configs", "tests")
    for p in sorted((ROOT / folder).rglob("*"))
    if p.suffix in {".md", ".py", ".yaml", ".yml", ".toml", ".html"}
    and ".egg-info" not in str(p)
    and p != Path(__file__).resolve()  # this file spells the forms out
]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]

SECTION = r"[a-i](?:\.\d+)?"
# §b.4, §b.4–§b.9, §b-§e, §i.9-10, §i.9–§i.10
CITATION = re.compile(rf"§({SECTION})(?:\s*[-–]\s*(?:§({SECTION})|(\d+)\b))?")
EXPLICIT_ID = re.compile(r"""<a\s+(?:name|id)=["']([^"']+)["']""")
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")


def cited_sections(text: str) -> list[str]:
    """Every section a text cites, ranges expanded to both ends (``§i.9-10`` -> i.9, i.10)."""
    out = []
    for m in CITATION.finditer(text):
        first, end_section, end_number = m.groups()
        out.append(first)
        if end_section:
            out.append(end_section)
        elif end_number:
            out.append(f"{first.split('.')[0]}.{end_number}")
    return out


def unparsed_section_signs(text: str) -> int:
    """How many ``§`` are not part of a citation :data:`CITATION` reads."""
    return text.count("§") - sum(m.group(0).count("§") for m in CITATION.finditer(text))


def strip_code(markdown: str) -> str:
    """Markdown without fenced blocks and inline code spans (links in code are not links)."""
    markdown = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", markdown)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: link text kept, lower case, punctuation dropped, spaces
    to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Explicit ``<a id>`` anchors and GitHub's heading anchors (``-1``, ``-2`` for repeats)."""
    text = path.read_text(encoding="utf-8")
    found = set(EXPLICIT_ID.findall(text))
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M), re.M):
        slug = github_slug(heading)
        found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return found


def test_the_citation_reader_reads_every_form():
    text = "(method.md §b.4–§b.9, §c) and §i.9-10, §b-§e; decisions on §i and §c.3: §d.1."
    assert cited_sections(text) == ["b.4", "b.9", "c", "i.9", "i.10", "b", "e", "i", "c.3", "d.1"]
    assert unparsed_section_signs(text) == 0
    assert unparsed_section_signs("| § | decision |") == 1
    assert github_slug("Perceptual keep-region metrics (optional)") == "perceptual-keep-region-metrics-optional"
    assert github_slug("`cocoedit edit`") == "cocoedit-edit"


def test_every_heading_of_method_md_has_a_stable_anchor_named_by_its_number():
    headings = re.findall(r"^(#{2,3}) (.+)$", METHOD.read_text(encoding="utf-8"), re.M)
    assert len(headings) > 40
    for level, heading in headings:
        m = re.fullmatch(r'<a id="([^"]+)"></a>(\S+?)\.? .+', heading)
        assert m, f"docs/method.md heading without an explicit anchor: {level} {heading}"
        assert m.group(1) == m.group(2), f"docs/method.md: anchor {m.group(1)!r} on heading {heading!r}"
    letters = [h for lv, h in headings if lv == "##"]
    assert [re.search(r"</a>(\w)\.", h).group(1) for h in letters] == list("abcdefghi")


def test_every_method_citation_resolves():
    sections = anchors(METHOD)
    assert len(CITING) > 100
    problems = []
    for path in CITING:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        if unparsed_section_signs(text):
            problems.append(f"{name}: a '§' that is not a method.md citation")
        missing = sorted({s for s in cited_sections(text) if s not in sections})
        if missing:
            problems.append(f"{name} cites method.md sections that do not exist: {', '.join(missing)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_reach_a_file_and_an_anchor(page):
    broken = []
    for target in LINK.findall(strip_code(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        file = (page.parent / file_part).resolve() if file_part else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no such anchor)")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {', '.join(broken)}"


def test_repository_paths_named_in_the_docs_exist():
    """A path the pages name in code (`tests/conftest.py`, `src/cocoedit/rl/`) is in the repository.
    The CHANGELOG is history: it may name what was removed."""
    missing = []
    for page in [p for p in PAGES if p.name != "CHANGELOG.md"]:
        for path in re.findall(r"`((?:src|tests|benchmarks|docs)/[\w./-]+?)(?::\w+)?`", page.read_text("utf-8")):
            if not (ROOT / path).exists():
                missing.append(f"{page.relative_to(ROOT)}: {path}")
    assert not missing, f"paths that do not exist: {missing}"


def test_the_architecture_table_has_every_package_and_only_real_modules():
    packages = {p.name for p in (ROOT / "src" / "cocoedit").iterdir() if (p / "__init__.py").exists()}
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*?) \|", (ROOT / "docs" / "architecture.md").read_text("utf-8"), re.M))
    assert packages <= set(rows), f"docs/architecture.md has no row for {sorted(packages - set(rows))}"
    unknown = []
    for package, owns in rows.items():
        folder = ROOT / "src" / "cocoedit" / package
        for name in re.findall(r"`([a-z_]+)`", owns):  # module names; classes and functions are CamelCase or called
            if not ((folder / f"{name}.py").exists() or (folder / name).is_dir() or f"def {name}(" in _source(folder)):
                unknown.append(f"{package}.{name}")
    assert not unknown, f"docs/architecture.md names modules that do not exist: {unknown}"


def _source(folder: Path) -> str:
    return "".join(p.read_text("utf-8") for p in folder.rglob("*.py")) if folder.is_dir() else ""


def test_the_docs_pages_link_method_md():
    """The method page is reachable: the README's documentation list and training.md link it."""
    assert "(docs/method.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(method.md)" in (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
