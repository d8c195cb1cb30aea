"""Which backbone class serves which editor, and loading an editor by path or hub id.

The built-in backbones are listed here explicitly. Other packages add theirs through the
``cocoedit.backbones`` entry-point group (``kind = "module:Class"`` in their ``pyproject.toml``),
read once on first use; cocoedit's own demo registers its tiny pixel-space editor that way, so
this module never imports code from the floors above it. :func:`register_backbone` adds a class
at run time (tests, notebooks).
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import torch

from cocoedit.models.backbone import EditBackbone
from cocoedit.models.condition import BackboneError
from cocoedit.models.kontext import KontextBackbone
from cocoedit.models.qwen import QwenImageEditBackbone, QwenImageEditPlusBackbone

ENTRY_POINT_GROUP = "cocoedit.backbones"

_BACKBONES: dict[str, type[EditBackbone]] = {
    cls.kind: cls for cls in (KontextBackbone, QwenImageEditBackbone, QwenImageEditPlusBackbone)
}
_plugins_loaded = False


def register_backbone(cls: type[EditBackbone]) -> type[EditBackbone]:
    """Make ``cls`` available by its ``kind`` (usable as a class decorator)."""
    if not cls.kind or not cls.pipeline_class_name:
        raise BackboneError(f"{cls.__name__} must set kind and pipeline_class_name")
    _BACKBONES[cls.kind] = cls
    return cls


def backbones() -> dict[str, type[EditBackbone]]:
    """Every known backbone by kind: the built-in ones and those of installed plugins."""
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, EditBackbone)):
                raise BackboneError(f"entry point {ep.name} = {ep.value} is not an EditBackbone subclass")
            _BACKBONES.setdefault(cls.kind, cls)
    return _BACKBONES


def backbone_class(kind: str) -> type[EditBackbone]:
    registry = backbones()
    if kind not in registry:
        raise BackboneError(f"unknown backbone {kind!r}; choose one of {', '.join(sorted(registry))}")
    return registry[kind]


def detect_kind(model: str | Path) -> str:
    """Backbone kind of a local pipeline folder, from ``model_index.json``'s ``_class_name``."""
    index = Path(model) / "model_index.json"
    if not index.is_file():
        raise BackboneError(f"{model}: no model_index.json; pass the backbone kind explicitly")
    try:
        class_name = json.loads(index.read_text(encoding="utf-8")).get("_class_name")
    except json.JSONDecodeError as e:
        raise BackboneError(f"{index}: bad JSON ({e.msg})") from None
    for kind, cls in backbones().items():
        if cls.pipeline_class_name == class_name:
            return kind
    raise BackboneError(f"{index}: pipeline class {class_name!r} is not a supported editor")


def load_backbone(
    model: str | Path,
    kind: str | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device | None = None,
    **options: Any,
) -> EditBackbone:
    """Load an editor from a local folder or hub id (``kind`` is detected for local folders)."""
    kind = kind or detect_kind(model)
    cls = backbone_class(kind)
    try:
        return cls.from_pretrained(model, dtype=dtype, device=device, **options)
    except OSError as e:  # diffusers' "cannot find / cannot load" for a path or hub id
        raise BackboneError(f"{model}: cannot load the {kind} pipeline ({e})") from e


def wrap_pipeline(pipeline: Any, **options: Any) -> EditBackbone:
    """The backbone for an already built stock pipeline."""
    for cls in backbones().values():
        if type(pipeline).__name__ == cls.pipeline_class_name:
            return cls.from_pipeline(pipeline, **options)
    raise BackboneError(f"{type(pipeline).__name__} is not a supported editing pipeline")
