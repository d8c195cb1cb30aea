"""Every training preset says in its first comment line how many GPUs it is for, and the README's
preset table says the same."""

import re
from pathlib import Path

import pytest

from cocoedit.core.presets import PRESETS_FOLDER
from cocoedit.rl.config import ConfigError, load_config

ROOT = Path(__file__).parents[2]
CURATION = ("curation_",)


def training_presets():
    return sorted(p for p in PRESETS_FOLDER.glob("*.yaml") if not p.name.startswith(CURATION))


def gpus_in_first_line(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    if "ONE 80 GB GPU" in first:
        return "1"
    found = re.search(r"for (\d+) GPUs", first) or re.search(r"(CPU)", first)
    assert found, f"{path.name}: the first line does not say which hardware it is for: {first!r}"
    return found.group(1)


@pytest.mark.parametrize("path", training_presets(), ids=lambda p: p.name)
def test_first_line_and_readme_name_the_gpus(path):
    try:
        load_config(path)
    except ConfigError:
        pytest.fail(f"{path.name} is not a valid training preset")
    gpus = gpus_in_first_line(path)
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("|")]
    row = next((r for r in rows if f"`{path.stem}`" in r), None)
    assert row is not None, f"README's preset table has no row for {path.stem}"
    hardware = row.split("|")[2]
    expected = {"1": "1 × 80 GB", "CPU": "CPU"}.get(gpus, f"**{gpus}** × 80 GB")
    assert expected in hardware, f"README says {hardware.strip()!r} for {path.name}, its first line {gpus}"
