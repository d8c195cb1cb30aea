"""Checks of LoRA files and LoRA targets against a model, before the model loads.

Loading FLUX or Qwen takes minutes; peft and diffusers then fail on a wrong LoRA with a long
traceback (a size mismatch for a LoRA trained on another base, a key error for a file that is not
a LoRA, ``Target modules {...} not found`` for a mistyped target). These checks read only the
safetensors *headers* (tensor names and shapes, no weights) of the LoRA file and of the model's
``transformer/`` weights, and name the problem in one line:

* :func:`check_lora_fits`: the file is a safetensors LoRA (``lora_A``/``lora_B`` or
  ``lora_down``/``lora_up`` tensors), and, for diffusers-format keys
  (``transformer.<module>.lora_A.weight``), every module it adapts exists in the model with the
  shape the LoRA was trained on;
* :func:`check_lora_targets`: every ``model.lora_targets`` entry names a layer of the transformer
  as peft matches them (the module's name, or its last dotted components), one LoRA can adapt
  (a weight of 2 or more dimensions: a linear or convolution layer, not a norm).

What the headers cannot tell (a model whose weights are not local safetensors, a LoRA in another
naming scheme that diffusers converts) is left to the load, whose errors
:func:`cocoedit.models.lora.load_lora` also turns into one line.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from cocoedit.models.lora import LORA_WEIGHTS_FILE, LoraError

_TRANSFORMER_WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"
_TRANSFORMER_INDEX = "transformer/diffusion_pytorch_model.safetensors.index.json"
_LORA_MARKERS = (".lora_A.", ".lora_B.", ".lora_down.", ".lora_up.", "lora_A.weight", "lora_down.weight")


def _header_shapes(path: Path, what: str) -> dict[str, list[int]]:
    """Tensor name -> shape, from a safetensors file's header (no tensor is read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise LoraError(f"{path}: {what} is not a readable safetensors file ({e})") from None


def _local_file(model: str | Path, filename: str) -> Path | None:
    """A file of a pipeline in a local folder or, for a hub id, already in the Hugging Face cache
    (never downloaded: these are checks, and the weights are gigabytes)."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder / filename if (folder / filename).is_file() else None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id=str(model), filename=filename)
    except Exception:  # noqa: BLE001 - not a valid hub id, no cache: nothing to check against
        return None
    return Path(found) if isinstance(found, str) else None


def transformer_shapes(model: str | Path) -> dict[str, list[int]] | None:
    """Weight name -> shape of a pipeline's transformer, from its safetensors headers (a local
    folder or a hub id in the cache; one file or shards); ``None`` when they are not at hand."""
    single = _local_file(model, _TRANSFORMER_WEIGHTS)
    if single is not None:
        return _header_shapes(single, "the model's transformer weights")
    index = _local_file(model, _TRANSFORMER_INDEX)
    if index is None:
        return None
    try:
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None
    shapes: dict[str, list[int]] = {}
    for shard in shards:
        path = _local_file(model, f"transformer/{shard}")
        if path is None:
            return None
        shapes.update(_header_shapes(path, "a shard of the model's transformer weights"))
    return shapes


def lora_file(path: str | Path) -> Path:
    """The weights file of a LoRA folder or file."""
    path = Path(path)
    return path / LORA_WEIGHTS_FILE if path.is_dir() else path


def check_lora_fits(lora: str | Path, model: str | Path) -> None:
    """Refuse a file that is not a LoRA, and a diffusers-format LoRA whose modules the model lacks
    or has in other shapes (trained on another base model)."""
    path = lora_file(lora)
    shapes = _header_shapes(path, "--lora")
    if not any(marker in name for name in shapes for marker in _LORA_MARKERS):
        example = ", ".join(sorted(shapes)[:2]) or "no tensors at all"
        raise LoraError(
            f"{path}: not a LoRA: it holds no lora_A/lora_B (or lora_down/lora_up) weights (its tensors: {example})"
        )
    adapted = {}  # module -> (lora_A shape, lora_B shape)
    for name, shape in shapes.items():
        for part in ("lora_A", "lora_B"):
            suffix = f".{part}.weight"
            if name.startswith("transformer.") and name.endswith(suffix):
                module = name[len("transformer.") : -len(suffix)]
                adapted.setdefault(module, {})[part] = shape
    if not adapted:
        return  # another naming scheme: diffusers converts it at load
    base = transformer_shapes(model)
    if base is None:
        return
    missing = sorted(m for m in adapted if f"{m}.weight" not in base)
    if missing:
        raise LoraError(
            f"{path}: {len(missing)} of the {len(adapted)} modules this LoRA adapts are not in {model} "
            f"(first: {missing[0]}): it was trained for another base model"
        )
    for module, parts in sorted(adapted.items()):
        a, b = parts.get("lora_A"), parts.get("lora_B")
        weight = base[f"{module}.weight"]
        if a is None or b is None or len(a) != 2 or len(b) != 2:
            continue
        if len(weight) >= 2 and [b[0], a[1]] != weight[:2]:
            raise LoraError(
                f"{path}: module {module} is {weight[0]}x{weight[1]} in {model} but {b[0]}x{a[1]} in the LoRA: "
                "it was trained for another base model (another size)"
            )


def check_lora_targets(targets: list[str], model: str | Path, key: str = "model.lora_targets") -> None:
    """Refuse a target that matches no layer of the model's transformer (peft's rule: the
    module's full name, or its last dotted components) or only layers LoRA cannot adapt."""
    shapes = transformer_shapes(model)
    if shapes is None:
        return
    layers = {name.removesuffix(".weight"): shape for name, shape in shapes.items() if name.endswith(".weight")}
    for target in targets:
        matched = [m for m in layers if m == target or m.endswith(f".{target}")]
        if not matched:
            tails = sorted({".".join(m.split(".")[-n:]) for m in layers for n in (1, 2, 3)})
            near = difflib.get_close_matches(target, tails, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
            raise LoraError(f"{key}: {target!r} names no module of the transformer of {model}{hint}")
        if all(len(layers[m]) < 2 for m in matched):
            raise LoraError(
                f"{key}: {target!r} matches only layers LoRA cannot adapt (e.g. {matched[0]}, a norm with a 1-D weight)"
            )
