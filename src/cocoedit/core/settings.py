"""Reading YAML settings files into pydantic models with errors that name the file and the key.

Shared by the training config (``cocoedit train``), the curation config (``cocoedit data build``)
and the demo settings (``cocoedit demo``): each raises its own error type, with the same messages.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Sequence
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


def _settings_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The settings model of a field's annotation and whether the field is a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (None,)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item, True
    return None, False


def valid_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key of a (nested) settings model, sections included; the keys of a list of
    sections are written ``name[].key``."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        section, is_list = _settings_model(field.annotation)
        if section is not None:
            keys += valid_keys(section, f"{prefix}{name}{'[]' if is_list else ''}.")
    return keys


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _as_pattern(loc: tuple[Any, ...]) -> str:
    """``("reward", "components", 1, "wieght")`` -> ``reward.components[].wieght``."""
    out = ""
    for part in loc:
        out += "[]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _at_indices(pattern: str, loc: tuple[Any, ...]) -> str:
    """``reward.components[].weight`` at the list indices of ``loc`` -> ``reward.components.1.weight``."""
    for index in (p for p in loc if isinstance(p, int)):
        pattern = pattern.replace("[]", f".{index}", 1)
    return pattern


def _problems(e: ValidationError, model: type[BaseModel]) -> list[tuple[tuple[Any, ...], str]]:
    """``(loc, "key: problem")`` of each problem of ``e``; unknown keys with the nearest valid key
    suggested (in a list of sections, at the same index)."""
    known = valid_keys(model)
    problems = []
    for err in e.errors():
        key = _key(err["loc"])
        if err["type"] == "extra_forbidden":
            near = difflib.get_close_matches(_as_pattern(err["loc"]), known, n=1, cutoff=0.6)
            hint = f" (did you mean {_at_indices(near[0], err['loc'])!r}?)" if near else ""
            problems.append((err["loc"], f"unknown key {key!r}{hint}"))
        else:
            message = err["msg"].removeprefix("Value error, ")
            problems.append((err["loc"], f"{key}: {message}" if key else message))
    return problems


def explain_problems(e: ValidationError, model: type[BaseModel]) -> str:
    """Each problem of ``e`` on one line joined by ``; ``: ``key: problem``, and unknown keys with
    the nearest valid key suggested (in a list of sections, at the same index)."""
    return "; ".join(problem for _, problem in _problems(e, model))


def explain_validation_error(
    e: ValidationError, model: type[BaseModel], source: str, overrides: Sequence[tuple[tuple[Any, ...], str]] = ()
) -> str:
    """``source: problem; problem``, unknown keys with the nearest valid key suggested. A problem
    at a key an override set (``overrides``: ``(path, item)`` as :func:`apply_overrides` records
    them) names that override (``--set optim.lr=abc: optim.lr: ...``), not ``source``."""
    by_origin: dict[str, list[str]] = {}
    for loc, problem in _problems(e, model):
        setters = [item for path, item in overrides if path[: len(loc)] == loc[: len(path)]]
        by_origin.setdefault(f"--set {setters[-1]}" if setters else source, []).append(problem)
    return "; ".join(f"{origin}: {'; '.join(problems)}" for origin, problems in by_origin.items())


_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _parse_value(text: str, item: str, error: type[Exception]) -> Any:
    """A YAML scalar or collection; ``1e-4`` is a float (YAML 1.1 would read it as a string)."""
    if text == "":
        return ""
    try:
        value = load_yaml(text)
    except yaml.YAMLError as e:
        raise error(f"override {item!r}: bad YAML value ({getattr(e, 'problem', None) or e})") from None
    if isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value)
    return value


def _entry(items: list, part: str, item: str, error: type[Exception]) -> dict:
    """The entry of a list of sections named by ``part``: its ``name`` or its index."""
    for entry in items:
        if isinstance(entry, dict) and entry.get("name") == part:
            return entry
    if part.isdigit() and int(part) < len(items) and isinstance(items[int(part)], dict):
        return items[int(part)]
    names = [str(e.get("name")) for e in items if isinstance(e, dict) and "name" in e]
    raise error(f"override {item!r}: no entry {part!r} in the list (its entries: {', '.join(names) or 'none'})")


def apply_overrides(
    data: dict[str, Any],
    overrides: list[str],
    error: type[Exception] = ValueError,
    paths: list[tuple[tuple[Any, ...], str]] | None = None,
) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a nested dict, in place. In a
    list of sections an entry is named by its ``name`` or its index
    (``reward.components.pixel.weight=0.5``). A bad override raises ``error`` naming it. ``paths``
    receives ``(path, item)`` per override, list entries as indices (``("reward", "components", 1,
    "weight")``), for :func:`explain_validation_error`."""
    for item in overrides:
        if "=" not in item:
            raise error(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node: Any = data
        path: list[Any] = []
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                entry = _entry(node, part, item, error)
                path.append(next(j for j, e in enumerate(node) if e is entry))
                node = entry
                continue
            path.append(part)
            child = node.setdefault(part, {})
            if isinstance(child, list):
                if i == len(parts) - 2:
                    raise error(
                        f"override {item!r}: {part!r} is a list: name an entry by its name or index, "
                        f"e.g. {'.'.join(parts[: i + 1])}.<name>.{parts[-1]}"
                    )
                node = child
                continue
            if not isinstance(child, dict):
                raise error(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = _parse_value(value, item, error)
        if paths is not None:
            paths.append(((*path, parts[-1]), item))
    return data
