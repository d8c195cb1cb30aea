"""Every training preset says in its first comment line which GPUs it is for, the README's preset
table says the same, and the preset's estimated peak memory (benchmarks/estimate_memory.py) fits
them."""

import importlib.util
import re
from pathlib import Path

import pytest

from cocoedit.core.presets import PRESETS_FOLDER
from cocoedit.rl.config import ConfigError, load_config

ROOT = Path(__file__).parents[2]
CURATION = ("curation_",)
GIB = 2**30


def training_presets():
    return sorted(p for p in PRESETS_FOLDER.glob("*.yaml") if not p.name.startswith(CURATION))


def hardware_in_first_line(path: Path) -> tuple[str, int | None]:
    """``(GPUs, GB per GPU)``: ``ONE 141 GB GPU`` -> ``("1", 141)``, ``for 8 GPUs`` -> ``("8", 80)``,
    ``CPU`` -> ``("CPU", None)``."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    if one := re.search(r"ONE (\d+) GB GPU", first):
        return "1", int(one.group(1))
    if several := re.search(r"for (\d+) GPUs", first):
        return several.group(1), 80
    assert "CPU" in first, f"{path.name}: the first line does not say which hardware it is for: {first!r}"
    return "CPU", None


def sharded_alternative(path: Path) -> int | None:
    """N of an ``or N × 80 GB sharded`` alternative in the first line."""
    found = re.search(r"or (\d+) × 80 GB sharded", path.read_text(encoding="utf-8").splitlines()[0])
    return int(found.group(1)) if found else None


@pytest.mark.parametrize("path", training_presets(), ids=lambda p: p.name)
def test_first_line_and_readme_name_the_gpus(path):
    try:
        load_config(path)
    except ConfigError:
        pytest.fail(f"{path.name} is not a valid training preset")
    gpus, gb = hardware_in_first_line(path)
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("|")]
    row = next((r for r in rows if f"`{path.stem}`" in r), None)
    assert row is not None, f"README's preset table has no row for {path.stem}"
    hardware = row.split("|")[2]
    expected = {"1": f"1 × {gb} GB", "CPU": "CPU"}.get(gpus, f"**{gpus}** × {gb} GB")
    assert expected in hardware, f"README says {hardware.strip()!r} for {path.name}, its first line {gpus} × {gb}"
    if shards := sharded_alternative(path):
        assert f"{shards} × 80 GB sharded" in hardware, f"README does not give {path.name}'s sharded alternative"


@pytest.fixture(scope="module")
def estimator():
    spec = importlib.util.spec_from_file_location("estimate_memory", ROOT / "benchmarks" / "estimate_memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, *module.activation_constants()


def estimated_gib(estimator, config, shards: int) -> float:
    module, c, d = estimator
    return module.estimate(config.model.backbone, config.model_dump(mode="json"), shards, c, d)["total"] / GIB


@pytest.mark.parametrize(
    "path", [p for p in training_presets() if hardware_in_first_line(p)[0] != "CPU"], ids=lambda p: p.name
)
def test_estimated_peak_memory_fits_the_gpus_the_first_line_names(path, estimator):
    """Against the GPU's size in decimal GB (an 80 GB card holds 74.5 GiB of them and reports a
    little more), by the estimate docs/backbones.md explains."""
    config = load_config(path)
    gpus, gb = hardware_in_first_line(path)
    sharded = config.train.parallel == "fsdp2"
    shards = int(gpus) if sharded else 1  # ddp keeps a whole transformer on every GPU
    assert estimated_gib(estimator, config, shards) <= gb * 1e9 / GIB, f"{path.name} on {gpus} × {gb} GB"
    if alternative := sharded_alternative(path):
        assert sharded, f"{path.name}: an alternative sharded over {alternative} GPUs needs train.parallel fsdp2"
        assert estimated_gib(estimator, config, alternative) <= 80e9 / GIB, f"{path.name} over {alternative} × 80 GB"
