"""Optional packages: `require` names the extra that installs a missing one, keeps other import
errors as they are, and the table of extras agrees with pyproject.toml and requirements.txt."""

import re
import sys
import tomllib
from pathlib import Path

import pytest

from cocoedit.core.optional import OPTIONAL, MissingExtraError, install_hint, require

ROOT = Path(__file__).parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_an_installed_package_is_imported():
    assert require("aiohttp.web", "the rating app").__name__ == "aiohttp.web"


def test_a_missing_package_names_the_extra(monkeypatch):
    for module in ("skimage", "skimage.data"):  # as if not installed, also where another test imported it
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError) as e:
        require("skimage.data", "the sample photos")
    assert str(e.value) == "the sample photos needs scikit-image, which is not installed: pip install 'cocoedit[dev]'"
    assert install_hint("pyarrow.parquet") == "pip install 'cocoedit[curation]'"


def test_a_broken_install_keeps_its_own_error(monkeypatch, tmp_path):
    (tmp_path / "halfpkg").mkdir()
    (tmp_path / "halfpkg" / "__init__.py").write_text("import a_dependency_nobody_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(OPTIONAL, "halfpkg", ("half-pkg", "dev"))
    with pytest.raises(ModuleNotFoundError, match="a_dependency_nobody_installed"):
        require("halfpkg", "something")


def test_each_optional_package_is_in_its_extra_and_not_in_the_core():
    extras = {name: {_name(r) for r in reqs} for name, reqs in PROJECT["optional-dependencies"].items()}
    core = {_name(r) for r in PROJECT["dependencies"]}
    for distribution, extra in OPTIONAL.values():
        assert distribution in extras[extra], (distribution, extra)
        assert distribution not in core, distribution
    assert {"pytest", "pytest-xdist", "playwright", "ruff"} <= extras["dev"]
    assert "cocoedit[rate,curation]" in PROJECT["optional-dependencies"]["dev"]  # dev runs every test


def test_requirements_pin_the_core_and_every_extra_but_wandb():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: {line!r} is not pinned exactly"
            pins[_name(name)] = version
    wanted = {_name(r) for r in PROJECT["dependencies"]}
    for name, reqs in PROJECT["optional-dependencies"].items():
        if name != "wandb":  # not installed on the CPU machines; its tests use a stand-in
            wanted |= {_name(r) for r in reqs if not r.startswith("cocoedit")}
    assert not wanted - set(pins), f"not pinned in requirements.txt: {sorted(wanted - set(pins))}"
