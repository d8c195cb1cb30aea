"""docs/data.md documents every curation config key and every decision reason the build can record."""

import re
from pathlib import Path

from pydantic import BaseModel

from cocoedit.curation import build
from cocoedit.curation.config import BuildConfig

DOC = (Path(__file__).parents[2] / "docs" / "data.md").read_text()


def _leaf_keys(model: type[BaseModel], prefix=""):
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _leaf_keys(field.annotation, f"{prefix}{name}.")
        else:
            yield prefix + name


def test_every_config_key_is_documented():
    missing = [k for k in _leaf_keys(BuildConfig) if k.split(".")[-1] not in DOC]
    assert not missing


def test_every_recorded_reason_is_documented():
    source = Path(build.__file__).read_text()
    reasons = set(re.findall(r'_(?:Dropped|Failed)\("([a-z_]+)"', source))
    assert {"empty_mask", "no_target_found", "unreadable_image"} <= reasons
    assert not [r for r in reasons if r not in DOC]
    assert "low_<score>" in DOC and "<stage>_<reason>" in DOC
