"""The package's floors (docs/architecture.md): imports only point down, no import cycles, the test
fixtures are never imported by the library, and no source file is over 400 lines."""

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "cocoedit"

#: Bottom up. A module may import modules of its own package and of packages on lower floors only;
#: packages that share a floor do not import each other.
FLOORS = (
    ("core",),
    ("judge", "data"),
    ("rewards", "eval", "curation"),
    ("models",),
    ("rl", "editing", "viewer"),
    ("demo",),
    ("testing",),
    ("cli",),
    ("__main__",),
)
FLOOR = {package: i for i, packages in enumerate(FLOORS) for package in packages}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """Every cocoedit module ``path`` imports, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cocoedit"):
            for alias in node.names:  # `from cocoedit.x import module` imports that module
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in known else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("cocoedit"))
    return out


def package_of(module: str) -> str | None:
    """``cocoedit.rl.trainer`` -> ``rl``; the root package itself (its version) -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def graph() -> dict[str, set[str]]:
    found = modules()
    return {m: imports(p, set(found)) for m, p in found.items()}


def test_every_package_has_a_floor():
    assert {package_of(m) for m in modules()} - {None} <= set(FLOOR)


def test_imports_only_point_down():
    upward = []
    for module, targets in graph().items():
        source = package_of(module)
        for target in targets:
            dest = package_of(target)
            if dest is None or dest == source:
                continue
            if FLOOR[dest] >= FLOOR[source]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that do not point down:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    edges = graph()
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    counter = [0]

    def connect(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                cycles.append(sorted(component))

    for v in edges:
        if v not in index:
            connect(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_library_never_imports_the_test_fixtures():
    users = defaultdict(list)
    for module, targets in graph().items():
        for target in targets:
            if package_of(target) == "testing" and package_of(module) not in ("testing", "cli"):
                users[module].append(target)
    assert not users, f"library modules importing cocoedit.testing: {dict(users)}"


def test_training_does_not_import_the_judge():
    """rl/ tells that a reward service is down by core's ServiceUnavailableError, which the judge's
    errors derive from, and builds the judge through the reward registry: it imports no judge module."""
    found = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        if package_of(module) == "rl"
        for target in targets
        if package_of(target) == "judge"
    ]
    assert not found, f"rl/ imports the judge: {found}"


def test_data_depends_on_core_only():
    found = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        if package_of(module) == "data"
        for target in targets
        if package_of(target) not in ("data", "core")
    ]
    assert not found, f"data/ imports more than core/: {found}"


def test_no_source_file_is_over_400_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these files (more than {MAX_LINES} lines): {long}"
