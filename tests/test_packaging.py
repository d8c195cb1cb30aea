"""The project as a package: the sdist holds everything to test it from (tests, presets, docs,
benchmarks, Makefile, CHANGELOG, LICENSE), and the wheel built offline from that sdist, installed
with ``--no-deps`` into a fresh virtual environment beside the pinned core requirements (the
extras' packages and this clone's editable install left out), runs from a folder outside the clone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from cocoedit.core.optional import OPTIONAL
from cocoedit.core.presets import list_presets

ROOT = Path(__file__).parents[1]
#: Files the sdist holds beside src/, tests/, docs/ and benchmarks/.
TOP_LEVEL = {"CHANGELOG.md", "LICENSE", "MANIFEST.in", "Makefile", "README.md", "pyproject.toml", "requirements.txt"}
#: What setuptools adds to every sdist.
GENERATED = ("PKG-INFO", "setup.cfg", "src/cocoedit.egg-info/")
JUNK = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "build", "dist", "runs"}


def project_files() -> set[str]:
    """The clone's files as git sees them (tracked, and new ones not ignored); without git (an
    unpacked sdist), every file but caches and build output."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return {name for name in listed.split("\0") if name and (ROOT / name).is_file()}
    except (OSError, subprocess.CalledProcessError):
        found = set()
        for path in ROOT.rglob("*"):
            relative = path.relative_to(ROOT)
            if path.is_file() and not JUNK & set(relative.parts) and not relative.parts[-1].endswith(".pyc"):
                if not str(relative).startswith(GENERATED):
                    found.add(str(relative))
        return found


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    """The sdist built by setuptools' PEP 517 hook from a copy of the project's files."""
    work = tmp_path_factory.mktemp("sdist")
    source = work / "project"
    for name in project_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    build = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"]
        + [str(work / "dist")],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (archive,) = (work / "dist").glob("cocoedit-*.tar.gz")
    return archive


def sdist_members(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}


def test_the_sdist_holds_tests_presets_docs_and_what_make_needs(sdist):
    members = sdist_members(sdist)
    files = project_files()
    shipped_folders = ("src/cocoedit/", "tests/", "docs/", "benchmarks/", ".ci/")
    expected = {f for f in files if f.startswith(shipped_folders)} | TOP_LEVEL
    missing = sorted(expected - members)
    assert not missing, f"files the sdist leaves out: {missing}"
    stray = sorted(m for m in members - files if not m.startswith(GENERATED))
    assert not stray, f"files in the sdist that are not the project's: {stray}"
    assert {f"src/cocoedit/configs/{p.name}.yaml" for p in list_presets()} <= members
    assert sum(m.startswith("tests/") and m.endswith(".py") for m in members) > 100
    assert not any(m.endswith(".pyc") or "__pycache__" in m for m in members)


def _dependency_folder(into: Path) -> Path:
    """Links to everything installed beside this interpreter, except cocoedit itself (this clone's
    editable install) and the packages of cocoedit's extras: what ``pip install cocoedit`` next to
    the pinned requirements gives."""
    left_out = {name.lower() for name in OPTIONAL} | {dist.lower().replace("-", "_") for dist, _ in OPTIONAL.values()}
    into.mkdir()
    for folder in dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib")):
        for entry in Path(folder).iterdir():
            project = entry.name.split("-")[0].lower().removesuffix(".py")
            if project.startswith(("cocoedit", "__editable__", "_cocoedit")) or project in left_out:
                continue
            if not (into / entry.name).exists():
                (into / entry.name).symlink_to(entry)
    return into


#: The imported cocoedit's file, then the folder of every installed cocoedit distribution.
WHERE = """
import importlib.metadata, cocoedit
print(cocoedit.__file__)
for d in importlib.metadata.distributions():
    if d.metadata["Name"] == "cocoedit":
        print(d.locate_file(""))
"""


def _run(command: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_wheel_from_the_sdist_installs_and_runs_outside_the_clone(sdist, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", NO_COLOR="1", COLUMNS="200", PIP_DISABLE_PIP_VERSION_CHECK="1")
    wheels = tmp_path / "wheels"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir"]
        + ["-w", wheels, sdist],
        tmp_path,
        env,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("cocoedit-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    package_files = {f.removeprefix("src/") for f in project_files() if f.startswith("src/cocoedit/")}
    assert not package_files - names, f"files the wheel leaves out: {sorted(package_files - names)}"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: Apache-2.0" in metadata
    core = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    for dist, extra in OPTIONAL.values():
        assert not any(dist in line for line in core), f"{dist} is a core dependency"
        assert f"Provides-Extra: {extra}" in metadata

    fresh = tmp_path / "fresh"
    made = _run([sys.executable, "-m", "venv", "--without-pip", fresh], tmp_path, env)
    assert made.returncode == 0, made.stderr
    python, bin_dir = fresh / "bin" / "python", fresh / "bin"
    site = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path, env).stdout.strip()
    )
    deps = _dependency_folder(tmp_path / "deps")
    (site / "_pinned_requirements.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    installed = _run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "--no-cache-dir", wheel], tmp_path, env
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = _run([python, "-c", WHERE], outside, env)
    assert where.returncode == 0, where.stderr
    module, *distributions = where.stdout.split()
    assert Path(module).is_relative_to(site) and not Path(module).resolve().is_relative_to(ROOT.resolve())
    assert len(distributions) == 1 and Path(distributions[0]) == site, distributions  # not the editable one

    for command, words in (
        (["--help"], ["configs", "train", "demo"]),
        (["configs", "list"], [p.name for p in list_presets()] + [str(site / "cocoedit" / "configs")]),
        (["demo", "--quick", "--help"], ["--quick", "--config"]),
    ):
        done = _run([bin_dir / "cocoedit", *command], outside, env)
        assert done.returncode == 0, f"cocoedit {' '.join(command)}\n{done.stdout}\n{done.stderr}"
        for word in words:
            assert word in done.stdout, f"cocoedit {' '.join(command)}: {word!r} not in\n{done.stdout}"
    shown = _run([bin_dir / "cocoedit", "configs", "show", "tiny"], outside, env)
    assert shown.stdout == (ROOT / "src" / "cocoedit" / "configs" / "tiny.yaml").read_text(encoding="utf-8")

    # Without the extras, their commands say which extra to install, and write nothing.
    for command, extra in (
        (["rate", "serve", "--bench", "gedit", "--bench-dir", "b", "--results", "r", "--db", "out/x.sqlite"], "rate"),
        (["dev", "make-bench", "--bench", "gedit", "--out", "out"], "dev"),
        (["data", "import", "pairs.parquet", "--out", "out"], "curation"),
    ):
        (outside / "pairs.parquet").write_bytes(b"PAR1")
        done = _run([bin_dir / "cocoedit", *command], outside, env)
        message = " ".join(done.stderr.split())
        assert done.returncode == 2 and f"pip install 'cocoedit[{extra}]'" in message, done.stdout + done.stderr
        assert "Traceback" not in done.stderr and not (outside / "out").exists()
