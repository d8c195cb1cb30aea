"""Reading YAML settings files into pydantic models with errors that name the file and the key.

Shared by the training config (``cocoedit train``), the curation config (``cocoedit data build``)
and the demo settings (``cocoedit demo``): each raises its own error type, with the same messages.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError


def read_yaml_mapping(path: str | Path, error: type[Exception]) -> dict[str, Any]:
    """The top-level mapping of a YAML file (empty file: ``{}``); ``error`` for anything else."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise error(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise error(f"{path}: bad YAML ({e})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: the top level must be a mapping")
    return data


def valid_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key of a (nested) settings model, sections included."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += valid_keys(annotation, f"{prefix}{name}.")
    return keys


def explain_validation_error(e: ValidationError, model: type[BaseModel], source: str) -> str:
    """``source: problem; problem``, unknown keys with the nearest valid key suggested."""
    known = valid_keys(model)
    problems = []
    for err in e.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            problems.append(f"unknown key {key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        else:
            problems.append(f"{key or 'config'}: {err['msg']}")
    return f"{source}: " + "; ".join(problems)
