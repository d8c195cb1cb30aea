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

from cocoedit.core.errors import CocoEditError
from cocoedit.models.backbone import EditBackbone, check_working_side
from cocoedit.models.condition import BackboneError
from cocoedit.models.files import pipeline_json
from cocoedit.models.flux2 import Flux2Backbone, Flux2KleinBackbone
from cocoedit.models.kontext import KontextBackbone
from cocoedit.models.qwen import QwenImageEditBackbone, QwenImageEditPlusBackbone
from cocoedit.models.qwen21 import QwenImage21Backbone

ENTRY_POINT_GROUP = "cocoedit.backbones"

_BACKBONES: dict[str, type[EditBackbone]] = {
    cls.kind: cls
    for cls in (
        KontextBackbone,
        QwenImageEditBackbone,
        QwenImageEditPlusBackbone,
        Flux2KleinBackbone,
        Flux2Backbone,
        QwenImage21Backbone,
    )
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


def looks_like_a_path(model: str) -> bool:
    """Whether ``model`` names a local folder or file rather than a hub id (``namespace/name``)."""
    if model.startswith(("/", ".", "~")) or "\\" in model or model.count("/") > 1:
        return True
    head = model.split("/")[0]
    return "/" in model and Path(head).is_dir()  # ``models/tiny-kontxt``: a typo under a local folder


def _hub_model_index(model: str) -> Path:
    """``model_index.json`` of a hub repository, from the local cache or the hub (cached)."""
    return hub_file(model, "model_index.json", "so it is not a diffusers pipeline")


def hub_file(model: str, filename: str, not_what: str, error: type[CocoEditError] = BackboneError) -> Path:
    """``filename`` of the hub repository ``model``, from the local Hugging Face cache or the hub
    (cached; offline, only a cached file is found); otherwise ``error`` saying what is wrong with
    the name, ending with ``not_what`` when the repository lacks the file."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    try:
        return Path(hf_hub_download(repo_id=model, filename=filename))
    except HFValidationError:
        raise error(f"{model}: no such local folder, and not a valid hub id (namespace/name)") from None
    except LocalEntryNotFoundError:
        raise error(
            f"{model}: not in the local Hugging Face cache, and the hub cannot be reached (HF_HUB_OFFLINE is set or "
            f"there is no network). Download it where the hub is reachable (hf download {model}) or "
            "give a local folder"
        ) from None
    except GatedRepoError:
        raise error(
            f"{model}: the repository is gated; accept its terms on the hub and log in (hf auth login)"
        ) from None
    except RepositoryNotFoundError:
        raise error(
            f"{model}: no such model on the Hugging Face hub (or it is private: hf auth login), "
            "and no such local folder"
        ) from None
    except EntryNotFoundError:
        raise error(f"{model}: the repository has no {filename}, {not_what}") from None


def detect_kind(model: str | Path) -> str:
    """Backbone kind of a pipeline from its ``model_index.json``'s ``_class_name``: a local folder,
    or a hub id (read through the Hugging Face cache; offline, only a cached model is found)."""
    path = Path(model).expanduser()
    if path.is_dir():
        index = path / "model_index.json"
        if not index.is_file():
            raise BackboneError(f"{model}: this folder is not a diffusers pipeline (no model_index.json)")
    elif path.exists() or looks_like_a_path(str(model)):
        raise BackboneError(f"{model}: no such folder" if not path.exists() else f"{model}: not a folder")
    else:
        index = _hub_model_index(str(model))
    try:
        class_name = json.loads(index.read_text(encoding="utf-8")).get("_class_name")
    except json.JSONDecodeError as e:
        raise BackboneError(f"{index}: bad JSON ({e.msg})") from None
    for kind, cls in backbones().items():
        if cls.pipeline_class_name == class_name:
            return kind
    raise BackboneError(
        f"{model}: pipeline class {class_name!r} is not a supported editor "
        f"(supported: {', '.join(sorted(c.pipeline_class_name for c in backbones().values()))})"
    )


def config_resolution_multiple(model: str | Path, kind: str) -> int | None:
    """What working sides must be multiples of (:attr:`EditBackbone.resolution_multiple`: the
    VAE's downsampling, then 2x2 latent packing), from the model's ``vae/config.json`` alone (no
    weights are read); ``None`` when the config cannot tell."""
    vae_config = pipeline_json(model, "vae/config.json")
    if vae_config is None:
        return None
    try:
        factor = backbone_class(kind).vae_scale_factor_from_config(vae_config)
    except (KeyError, TypeError, ValueError):
        return None
    return None if factor is None else factor * 2


def check_working_size(model: str | Path, kind: str, height: int, width: int) -> None:
    """Refuse a working size the model cannot use, from its config files alone (no weights are
    read: :meth:`~cocoedit.models.backbone.EditBackbone.check_working_size_from_files`), or one above
    :data:`~cocoedit.models.backbone.MAX_WORKING_SIDE`. Sizes the files cannot decide are left to
    the backbone's own check at load."""
    check_working_side(kind, height, width)
    backbone_class(kind).check_working_size_from_files(lambda name: pipeline_json(model, name), height, width)


def load_backbone(
    model: str | Path,
    kind: str | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device | None = None,
    **options: Any,
) -> EditBackbone:
    """Load an editor from a local folder or hub id (``kind`` detected from ``model_index.json``)."""
    kind = kind or detect_kind(model)
    cls = backbone_class(kind)
    try:
        return cls.from_pretrained(model, dtype=dtype, device=device, **options)
    except (OSError, ValueError) as e:
        # diffusers' "cannot find / cannot load" for a path or hub id (OSError); a component whose
        # files are missing or broken, e.g. a tokenizer transformers cannot build (ValueError)
        raise BackboneError(f"{model}: cannot load the {kind} pipeline ({_first_line(str(e))})") from e


def wrap_pipeline(pipeline: Any, **options: Any) -> EditBackbone:
    """The backbone for an already built stock pipeline."""
    for cls in backbones().values():
        if type(pipeline).__name__ == cls.pipeline_class_name:
            return cls.from_pipeline(pipeline, **options)
    raise BackboneError(f"{type(pipeline).__name__} is not a supported editing pipeline")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
