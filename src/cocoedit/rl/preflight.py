"""What ``cocoedit train`` checks before the slow part (loading a model, contacting a judge).

Each check raises a :class:`~cocoedit.core.errors.CocoEditError` naming the file, key or value:
the run folder (a new run needs one without a checkpoint, a resume needs a run), the device, the
model's kind, options and working size (read from its config files, no weights), the LoRA targets
(against the transformer's weight names, read from the safetensors headers), the trackers'
packages, and every row and file of the manifests, as ``cocoedit data validate`` checks them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cocoedit.core.devices import check_device
from cocoedit.data.manifest import EditSample, detect_layout, read_manifest
from cocoedit.data.validate import require_valid_manifest, warnings_line
from cocoedit.models.condition import BackboneError
from cocoedit.models.lora import LoraError
from cocoedit.models.lora_checks import check_lora_targets
from cocoedit.models.registry import backbone_class, check_working_size, detect_kind
from cocoedit.rl.config import CocoEditConfig, ConfigError
from cocoedit.rl.distributed import default_device
from cocoedit.rl.logging import check_trackers
from cocoedit.rl.run_folder import check_run_folder


@dataclass(frozen=True)
class TrainingInputs:
    kind: str  # the backbone kind
    device: str
    train_samples: list[EditSample]
    validation_samples: list[EditSample]


def read_checked_manifest(path: str | Path) -> list[EditSample]:
    """The samples of a manifest whose every row passes ``cocoedit data validate``'s checks; its
    warnings (grey mask pixels, binarised at 0.5) are logged as one line."""
    layout = detect_layout(path)
    warning = warnings_line(require_valid_manifest(path, layout))
    if warning is not None:
        logging.getLogger("cocoedit.train").warning(warning)
    return read_manifest(path, layout=layout)


def check_training_inputs(config: CocoEditConfig, run_dir: Path, resume: bool | None) -> TrainingInputs:
    """Check everything a run needs that can be checked cheaply; ``resume=None`` skips the run
    folder (a caller that built the run itself)."""
    if resume is not None:
        check_run_folder(run_dir, resume)
    m = config.model
    device = str(check_device(config.train.device, "train.device")) if config.train.device else default_device()
    kind = m.backbone or detect_kind(m.path)
    try:
        backbone_class(kind).check_options(m.backbone_options)
    except BackboneError as e:
        raise ConfigError(f"model.backbone_options: {e}") from None
    if config.train.parallel == "fsdp2" and backbone_class(kind).transformer_calls_vary:
        raise ConfigError(
            f"train.parallel: fsdp2 cannot shard {kind}: its transformer calls per prediction depend on the batch "
            "(one per prompt length), and sharded processes must make the same calls; use ddp"
        )
    try:
        check_working_size(m.path, kind, m.height, m.width)
    except BackboneError as e:
        raise ConfigError(f"model.height, model.width: {e}") from None
    if m.lora_targets:
        try:
            check_lora_targets(m.lora_targets, m.path)
        except LoraError as e:
            raise ConfigError(str(e)) from None
    check_trackers(config.train.report_to)
    train = read_checked_manifest(config.data.manifest)
    validation = read_checked_manifest(config.data.validation_manifest) if config.data.validation_manifest else []
    return TrainingInputs(kind, device, train, validation)
