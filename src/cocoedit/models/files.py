"""A pipeline's small files (``model_index.json``, component configs) read without loading weights:
from a local folder, or for a hub id through the Hugging Face cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def pipeline_file(model: str | Path, filename: str) -> Path | None:
    """A file of a pipeline (local folder, or hub id through the Hugging Face cache); ``None``
    when it cannot be had without loading the model."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path / filename if (path / filename).is_file() else None
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id=str(model), filename=filename))
    except Exception:  # noqa: BLE001 - any hub trouble: the load itself will report it
        return None


def pipeline_json(model: str | Path, filename: str) -> dict[str, Any] | None:
    """A JSON file of a pipeline as a dict; ``None`` when it is missing or not a JSON object (the
    load itself reports a broken pipeline)."""
    path = pipeline_file(model, filename)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def torchvision_available() -> bool:
    """Whether torchvision can be imported (transformers' video and Pixtral processors need it)."""
    from importlib.util import find_spec

    return find_spec("torchvision") is not None
