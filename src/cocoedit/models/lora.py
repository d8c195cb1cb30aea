"""LoRA adapters on a backbone's transformer: named adapters (peft), switching, copying, saving.

The trainer keeps three policies on one transformer (method.md §b.1): the trained adapter, the
old (sampling) adapter, and the reference model = adapters disabled. This module gives exactly
that: :func:`add_lora`, :func:`use_adapter`, :func:`adapters_disabled`, :func:`copy_adapter`.

Saved adapters are in diffusers format (``pytorch_lora_weights.safetensors`` with keys
``transformer.<module>.lora_A/B.weight`` and the LoRA config as metadata, so alpha survives), so a
stock pipeline's ``load_lora_weights(dir)`` loads them without conversion. Reference departure:
the reference saves peft checkpoints and renames ``base_model.model`` to ``transformer`` in a
separate conversion script.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from cocoedit.core.errors import CocoEditError
from cocoedit.models.backbone import EditBackbone

LORA_WEIGHTS_FILE = "pytorch_lora_weights.safetensors"


class LoraError(CocoEditError):
    """An adapter is missing, already present, or a checkpoint cannot be used."""


def adapter_names(backbone: EditBackbone) -> list[str]:
    """Names of the adapters on the transformer (empty if none)."""
    config = getattr(backbone.transformer, "peft_config", None)
    return list(config) if config else []


def _require(backbone: EditBackbone, name: str) -> None:
    if name not in adapter_names(backbone):
        raise LoraError(f"no adapter named {name!r}; present: {adapter_names(backbone) or 'none'}")


def add_lora(
    backbone: EditBackbone,
    name: str,
    rank: int = 32,
    alpha: float = 64.0,
    targets: Sequence[str] | None = None,
    init: str | bool = "gaussian",
    seed: int | None = None,
) -> list[torch.nn.Parameter]:
    """Add adapter ``name`` (rank, alpha, targets default to the backbone's) and return its parameters.

    The base weights are frozen; the new adapter's parameters require grad (other adapters keep
    their flags) and are **float32**
    whatever the model's dtype (the reference trains fp32 adapters under bf16 autocast: bf16 Adam
    updates and gradients accumulated over hundreds of passes lose too much). ``init="gaussian"``
    is the reference's choice (A ~ N(0, 1/rank²), B = 0, so a new adapter starts as the identity);
    with ``seed`` the Gaussian is drawn from a generator seeded with it (:func:`init_lora_`), so
    every run and every process of a run starts from the same adapter.
    """
    from peft import LoraConfig

    if name in adapter_names(backbone):
        raise LoraError(f"adapter {name!r} already exists")
    if rank < 1:
        raise LoraError(f"rank must be >= 1, got {rank}")
    config = LoraConfig(
        r=rank, lora_alpha=alpha, init_lora_weights=init, target_modules=list(targets or backbone.lora_target_modules)
    )
    transformer = backbone.transformer
    if not adapter_names(backbone):
        transformer.requires_grad_(False)
    # peft's add_adapter makes the new adapter the only trainable one; the others keep their flags.
    flags = _trainable_flags(backbone)
    with warnings.catch_warnings():
        # peft warns whenever a second adapter is added; several adapters are the point here.
        warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
        try:
            transformer.add_adapter(config, adapter_name=name)
        except ValueError as e:  # peft's "Target modules {...} not found in the base model"
            raise LoraError(f"LoRA targets {sorted(config.target_modules)}: {_first_line(e)}") from None
    for n, p in transformer.named_parameters():
        if n in flags:
            p.requires_grad_(flags[n])
    params = adapter_parameters(backbone, name)
    with torch.no_grad():
        for p in params:
            p.data = p.data.float()
    if seed is not None and init == "gaussian":
        init_lora_(backbone, name, seed)
    for p in params:
        p.requires_grad_(True)
    return params


def init_lora_(backbone: EditBackbone, name: str, seed: int) -> None:
    """Re-draw adapter ``name``: every ``lora_A`` from N(0, 1/rank²) with a CPU generator seeded
    with ``seed`` (modules in a fixed order), every ``lora_B`` zero; the same on any device."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, module in sorted(backbone.transformer.named_modules(), key=lambda kv: kv[0]):
            lora_a = getattr(module, "lora_A", None)
            if not isinstance(lora_a, torch.nn.ModuleDict) or name not in lora_a:
                continue
            a, b = lora_a[name].weight, module.lora_B[name].weight
            rank = module.r[name]
            a.copy_((torch.randn(a.shape, generator=generator) / rank).to(device=a.device, dtype=a.dtype))
            b.zero_()


def adapter_parameters(backbone: EditBackbone, name: str) -> list[torch.nn.Parameter]:
    """The LoRA parameters of adapter ``name``, in a fixed (module) order."""
    _require(backbone, name)
    tag = f".{name}."
    return [p for n, p in backbone.transformer.named_parameters() if ("lora_" in n and tag in n)]


def set_adapter(backbone: EditBackbone, name: str) -> None:
    """Make ``name`` the only active adapter (and enable adapters).

    peft also makes only the active adapter trainable; :func:`use_adapter` undoes that on exit.
    """
    _require(backbone, name)
    backbone.transformer.enable_adapters()
    backbone.transformer.set_adapter(name)


def _trainable_flags(backbone: EditBackbone) -> dict[str, bool]:
    # Keyed by name, not by object: wrappers such as FSDP2 swap parameter objects.
    return {n: p.requires_grad for n, p in backbone.transformer.named_parameters()}


def _restore_trainable_flags(backbone: EditBackbone, flags: dict[str, bool]) -> None:
    for n, p in backbone.transformer.named_parameters():
        p.requires_grad_(flags[n])


@contextmanager
def use_adapter(backbone: EditBackbone, name: str) -> Iterator[None]:
    """Run the block with only ``name`` active; restore the previously active adapters after."""
    _require(backbone, name)
    previous = list(backbone.transformer.active_adapters())
    grads = _trainable_flags(backbone)
    set_adapter(backbone, name)
    try:
        yield
    finally:
        backbone.transformer.set_adapter(previous if len(previous) > 1 else previous[0])
        _restore_trainable_flags(backbone, grads)


@contextmanager
def adapters_disabled(backbone: EditBackbone) -> Iterator[None]:
    """Run the block with every adapter off: the reference (base) model.

    peft's disable/enable also rewrites which adapter parameters require grad (enabling marks only
    the active adapter trainable); the flags are restored on exit, as in :func:`use_adapter`, so a
    backward pass after the block still reaches the trained adapter.
    """
    grads = _trainable_flags(backbone)
    backbone.transformer.disable_adapters()
    try:
        yield
    finally:
        backbone.transformer.enable_adapters()
        _restore_trainable_flags(backbone, grads)


def copy_adapter(backbone: EditBackbone, source: str, target: str) -> None:
    """Copy adapter ``source``'s weights into ``target`` (same targets and rank), in place."""
    src, dst = adapter_parameters(backbone, source), adapter_parameters(backbone, target)
    if len(src) != len(dst) or any(a.shape != b.shape for a, b in zip(src, dst, strict=True)):
        raise LoraError(f"adapters {source!r} and {target!r} differ in targets or rank")
    with torch.no_grad():
        for a, b in zip(src, dst, strict=True):
            b.copy_(a)


def lora_state_dict(backbone: EditBackbone, name: str) -> dict[str, torch.Tensor]:
    """Adapter ``name`` as a peft state dict (``<module>.lora_A.weight`` keys, no adapter name)."""
    from peft.utils import get_peft_model_state_dict

    _require(backbone, name)
    return get_peft_model_state_dict(backbone.transformer, adapter_name=name)


def full_lora_state_dict(backbone: EditBackbone, name: str) -> dict[str, torch.Tensor]:
    """:func:`lora_state_dict` with every tensor whole and on the CPU. With a sharded (FSDP2)
    transformer this gathers the shards, so every process must call it."""
    state = {}
    for k, v in lora_state_dict(backbone, name).items():
        v = v.detach()
        if hasattr(v, "full_tensor"):  # a DTensor shard
            v = v.full_tensor()
        state[k] = v.to("cpu").contiguous()
    return state


def save_lora(
    backbone: EditBackbone, name: str, out_dir: str | Path, state: dict[str, torch.Tensor] | None = None
) -> Path:
    """Write adapter ``name`` in diffusers format to ``out_dir``; returns the weights file.

    ``state`` is the adapter's :func:`full_lora_state_dict` when already gathered (sharded models).
    """
    _require(backbone, name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = backbone.transformer.peft_config[name].to_dict()
    config["target_modules"] = sorted(config["target_modules"])  # a set in peft; JSON needs a list
    state = state if state is not None else full_lora_state_dict(backbone, name)
    backbone.pipeline_class().save_lora_weights(
        out_dir, transformer_lora_layers=state, transformer_lora_adapter_metadata=config
    )
    return out_dir / LORA_WEIGHTS_FILE


def check_lora_path(path: str | Path) -> Path:
    """A diffusers-format LoRA: a ``.safetensors`` file, or a folder holding the weights file.
    Checked without reading weights, so commands can refuse a wrong path before a model loads."""
    path = Path(path)
    if not path.exists():
        raise LoraError(f"{path}: LoRA file or folder not found")
    if path.is_dir() and not (path / LORA_WEIGHTS_FILE).is_file():
        raise LoraError(f"{path}: no {LORA_WEIGHTS_FILE} in this folder")
    return path


def resolve_lora(lora: str | Path) -> Path:
    """The LoRA file or folder ``lora`` names: a local ``.safetensors`` file or folder
    (:func:`check_lora_path`), or a hub id (``namespace/name``) whose repository holds
    ``pytorch_lora_weights.safetensors``, found through the Hugging Face cache the way ``--model``
    finds a model (offline, only a cached one; the same messages for a name that is neither)."""
    from cocoedit.models.registry import hub_file, looks_like_a_path

    path = Path(lora).expanduser()
    if path.exists() or looks_like_a_path(str(lora)) or path.suffix == ".safetensors":
        return check_lora_path(path)
    return check_lora_path(hub_file(str(lora), LORA_WEIGHTS_FILE, "so it is not a diffusers-format LoRA", LoraError))


def load_lora(backbone: EditBackbone, path: str | Path, name: str, scale: float = 1.0) -> None:
    """Load a diffusers-format LoRA (folder or ``.safetensors`` file) as adapter ``name`` and activate it.

    Uses the stock pipeline's ``load_lora_weights``; ``scale`` multiplies the adapter's output.
    """
    path = check_lora_path(path)
    if name in adapter_names(backbone):
        raise LoraError(f"adapter {name!r} already exists")
    try:
        if path.is_dir():
            backbone.pipeline.load_lora_weights(str(path), adapter_name=name)
        else:
            backbone.pipeline.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
    except (RuntimeError, ValueError, KeyError, OSError) as e:  # size mismatch, unknown keys, not safetensors
        raise LoraError(f"{path}: cannot load this LoRA into the {backbone.kind} model: {_first_line(e)}") from None
    backbone.pipeline.set_adapters([name], adapter_weights=[scale])


def _first_line(error: BaseException) -> str:
    """The first line of an error's message, shortened: peft's and torch's run to pages."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
