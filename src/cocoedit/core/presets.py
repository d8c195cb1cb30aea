"""The YAML presets that ship inside the package (``cocoedit/configs/*.yaml``), and what a
``--config`` value means: a file's path, or a preset's name.

A preset's file name says which command reads it: ``curation_*`` is for ``cocoedit data build``,
``demo_*`` for ``cocoedit demo``, anything else for ``cocoedit train``. Its first comment line is
its one-line description (``cocoedit configs list``).

:func:`resolve_config` is how every settings loader reads its ``--config``: an existing path is
used as it is; a bare name (``kontext``, or ``kontext.yaml`` when no such file is here) is the
packaged preset of that name; anything else is an error naming the presets there are.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from cocoedit.core.errors import CocoEditError

PRESETS_FOLDER = Path(__file__).resolve().parent.parent / "configs"
COMMANDS = ("train", "data build", "demo")
SUFFIXES = (".yaml", ".yml")


class PresetError(CocoEditError):
    """A ``--config`` value that is neither a file nor a preset for the command."""


@dataclass(frozen=True)
class Preset:
    name: str
    path: Path
    command: str  # the `cocoedit` command that reads it
    description: str


def command_of(name: str) -> str:
    """Which command reads the preset called ``name`` (by the file-name convention above)."""
    if name.startswith("curation_"):
        return "data build"
    if name.startswith("demo_"):
        return "demo"
    return "train"


def description_of(path: Path) -> str:
    """The preset's first comment line, without the ``#`` (empty when it starts with no comment)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()
        if stripped:
            return ""
    return ""


def list_presets(command: str | None = None) -> list[Preset]:
    """Every shipped preset (only those ``command`` reads, if given), sorted by name."""
    found = []
    for path in sorted(PRESETS_FOLDER.glob("*.yaml")):
        preset = Preset(path.stem, path, command_of(path.stem), description_of(path))
        if command is None or preset.command == command:
            found.append(preset)
    return found


def _names_text(presets: list[Preset]) -> str:
    return ", ".join(p.name for p in presets) if presets else "none"


def _nearest(name: str, presets: list[Preset]) -> str:
    near = difflib.get_close_matches(name, [p.name for p in presets], n=1, cutoff=0.5)
    return f" (did you mean {near[0]!r}?)" if near else ""


def find_preset(
    name: str, command: str | None = None, error: type[Exception] = PresetError, missing: str = "no such preset"
) -> Preset:
    """The shipped preset called ``name`` (a ``.yaml`` suffix is allowed), refusing one that another
    command reads; ``error`` (``name: missing``) names the presets there are and the nearest name."""
    stem = name[: -len(suffix)] if (suffix := next((s for s in SUFFIXES if name.endswith(s)), "")) else name
    every = list_presets()
    for preset in every:
        if preset.name == stem:
            if command is not None and preset.command != command:
                mine = list_presets(command)
                raise error(
                    f"{name}: a preset for `cocoedit {preset.command}`, not `cocoedit {command}` "
                    f"(presets for {command}: {_names_text(mine)})"
                )
            return preset
    candidates = list_presets(command) if command is not None else every
    what = f"presets for {command}" if command is not None else "presets"
    raise error(f"{name}: {missing}{_nearest(stem, candidates)}; {what}: {_names_text(candidates)}")


def _is_bare_name(value: str) -> bool:
    return bool(value) and "/" not in value and os.sep not in value and value not in (".", "..")


def resolve_config(value: str | Path, command: str, error: type[Exception] = PresetError) -> Path:
    """The YAML file a ``--config`` value means for ``command`` (one of :data:`COMMANDS`).

    An existing path is returned as it is (a folder too: its reader refuses it). A bare name with
    no file of that name here is the shipped preset (``error`` when there is none, naming the
    presets for ``command`` and the nearest; a ``.yaml`` name, or any name for a command without
    presets, is left to its reader as a missing file). A missing path whose file name is a preset's (the
    ``configs/NAME.yaml`` paths of older versions) is refused with the name to use instead; any
    other missing path is returned for its reader to report.
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; expected one of {COMMANDS}")
    text = str(value)
    path = Path(value)
    if path.exists():
        return path
    if _is_bare_name(text):
        named = any(p.name == path.stem for p in list_presets())
        if named or (not text.endswith(SUFFIXES) and list_presets(command)):
            return find_preset(text, command, error, missing="no such file or preset").path
        return path  # a file name (or a command without presets): its reader says it is not found
    if path.suffix in SUFFIXES and any(p.name == path.stem for p in list_presets(command)):
        raise error(
            f"{text}: config file not found; the presets ship inside cocoedit: --config {path.stem} "
            f"(cocoedit configs show {path.stem} --out FILE writes a copy to edit)"
        )
    return path
