"""The memory estimates in docs/backbones.md are what `benchmarks/estimate_memory.py` computes from
the presets as they are (a preset changed without updating the docs fails here)."""

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from cocoedit.core.presets import PRESETS_FOLDER

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def estimator():
    spec = importlib.util.spec_from_file_location("estimate_memory", ROOT / "benchmarks" / "estimate_memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documented(text: str, heading: str) -> tuple[int, str]:
    """The rounded total in the 'estimated peak GPU memory' row after ``heading``."""
    tables = text[text.index("## Today's editors") :]
    section = tables[tables.index(heading + " (") :]
    row = next(line for line in section.splitlines() if line.startswith("| estimated peak GPU memory"))
    return int(re.search(r"≈ (\d+) GiB", row).group(1)), row


@pytest.mark.parametrize(
    ("preset", "heading"),
    [
        ("flux2_klein.yaml", "**FLUX.2 [klein] 4B**"),
        ("flux2_dev.yaml", "**FLUX.2 [dev]**"),
        ("qwen_image_2.1.yaml", "**Qwen-Image-2.1**"),
        ("qwen_image_edit_2511.yaml", "**Qwen-Image-Edit-2511**"),
    ],
)
def test_documented_estimates_follow_the_presets(estimator, preset, heading):
    c, d = estimator.activation_constants()
    config = yaml.safe_load((PRESETS_FOLDER / preset).read_text())
    total = estimator.estimate(estimator.PRESETS[preset], config, 1, c, d)["total"] / estimator.GIB
    doc, row = documented((ROOT / "docs" / "backbones.md").read_text(), heading)
    assert doc == round(total), (preset, total, row)
    assert "estimate" in row


@pytest.mark.parametrize(
    "preset", sorted(p.name for p in PRESETS_FOLDER.glob("*.yaml") if "GiB in all" in p.read_text())
)
def test_presets_comments_give_the_estimate(estimator, preset):
    """A preset's "about N GiB in all" is the estimate, to its last digit (an integer to ±0.5)."""
    c, d = estimator.activation_constants()
    text = (PRESETS_FOLDER / preset).read_text()
    total = estimator.estimate(estimator.PRESETS[preset], yaml.safe_load(text), 1, c, d)["total"] / estimator.GIB
    for said in re.findall(r"about ([\d.]+) GiB in all", text):
        assert abs(float(said) - total) <= (0.05 if "." in said else 0.5), (preset, said, round(total, 1))
