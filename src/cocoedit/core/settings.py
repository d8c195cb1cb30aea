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


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names one key twice (plain YAML keeps the last silently)."""


class StrictSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping: a second ``train:``
    section would otherwise replace the first without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = first_line.get(key)
            except TypeError:  # an unhashable key: the base class names it
                break
            line = key_node.start_mark.line + 1
            if earlier is not None:
                where = f"line {line}" if earlier == line else f"lines {earlier} and {line}"
                raise DuplicateKeyError(None, None, f"key {key!r} given twice ({where})", key_node.start_mark)
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """The value of a YAML document, refusing duplicate keys (:class:`StrictSafeLoader`)."""
    return yaml.load(text, Loader=StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml_mapping(path: str | Path, error: type[Exception]) -> dict[str, Any]:
    """The top-level mapping of a UTF-8 YAML file (empty file: ``{}``); ``error`` for anything
    else: a missing file, a folder, other bytes than UTF-8, bad YAML, a key given twice."""
    path = Path(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise error(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a config file") from None
    except OSError as e:
        raise error(f"{path}: cannot be read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise error(
            f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); save it as UTF-8"
        ) from None
    except DuplicateKeyError as e:
        raise error(f"{path}: {e.problem}") from None
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
            problems.append(f"{key or 'config'}: {err['msg'].removeprefix('Value error, ')}")
    return f"{source}: " + "; ".join(problems)
