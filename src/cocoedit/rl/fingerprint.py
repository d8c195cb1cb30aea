"""What a run trains on, recorded so that a resume can refuse a changed input by name.

:func:`run_fingerprint` holds a content hash of each manifest, the model's config files by hash
and its weight files by name, size and modification time (cheap: weights are not read);
:func:`fingerprint_differences` names what changed. :func:`config_differences` compares a run's
saved config with the one a resume would use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")


def model_fingerprint(model: str) -> dict[str, Any]:
    """A cheap identity of a model: for a local folder its JSON/text config files by content hash
    and its weight files by name, size and modification time; for a hub id, the id (and the
    cached snapshot's revision, when the hub cache holds one)."""
    path = Path(model)
    if not path.exists():
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "model_index.json")
        revision = Path(cached).parent.name if isinstance(cached, str) else None
        return {"hub_id": model, "revision": revision}
    configs, weights = {}, {}
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        if f.suffix in _WEIGHT_SUFFIXES:
            st = f.stat()
            weights[rel] = [st.st_size, st.st_mtime_ns]
        elif f.suffix in (".json", ".txt", ".model", ".yaml"):
            configs[rel] = file_digest(f)
    return {"folder": str(path.resolve()), "configs": configs, "weights": weights}


def run_fingerprint(manifests: Iterable[str | Path | None], model: str) -> dict[str, Any]:
    """What a run trains on: every manifest's content hash (by absolute path; None for a path that
    is no file, e.g. samples given in code) and the model's :func:`model_fingerprint`."""
    return {
        "manifests": {str(Path(m).resolve()): file_digest(m) if Path(m).is_file() else None for m in manifests if m},
        "model": model_fingerprint(model),
    }


def fingerprint_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, str]:
    """``{"data" | "model": description}`` of what changed between two run fingerprints."""
    out = {}
    changed = [
        m
        for m in set(saved["manifests"]) | set(current["manifests"])
        if saved["manifests"].get(m) != current["manifests"].get(m)
    ]
    if changed:
        out["data"] = "the manifest(s) " + ", ".join(sorted(changed)) + " changed since the run started"
    a, b = saved["model"], current["model"]
    if a != b:
        if "folder" in a and "folder" in b:
            files = sorted(
                k
                for part in ("configs", "weights")
                for k in set(a[part]) | set(b[part])
                if a[part].get(k) != b[part].get(k)
            )
            what = f"{b['folder']}: {', '.join(files[:5])}{' ...' if len(files) > 5 else ''}"
        else:
            what = f"{a.get('folder') or a.get('hub_id')} -> {b.get('folder') or b.get('hub_id')}"
        out["model"] = f"the model changed since the run started ({what})"
    return out


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_differences(saved: dict[str, Any], current: dict[str, Any], may_change: Iterable[str] = ()) -> list[str]:
    """Dotted keys whose values differ between two config dicts, except those in ``may_change``
    (a key or a prefix ending in ``.``), formatted as ``key: saved -> current``."""
    allowed = tuple(may_change)
    a, b = _flatten(saved), _flatten(current)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if any(key == p or (p.endswith(".") and key.startswith(p)) for p in allowed):
            continue
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            diffs.append(f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
    return diffs
