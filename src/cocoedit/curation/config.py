"""The ``cocoedit data build`` configuration (YAML, pydantic, unknown keys refused).

See the shipped preset ``curation_local_edits`` (``cocoedit configs show curation_local_edits``) for a
documented example and ``docs/data.md`` for what each stage does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cocoedit.core.errors import CocoEditError
from cocoedit.core.presets import resolve_config
from cocoedit.core.settings import explain_validation_error, read_yaml_mapping
from cocoedit.curation.annotate import BoxCoordinates
from cocoedit.curation.augment import AugmentConfig
from cocoedit.judge.config import EndpointConfig, JudgeConfig, SamplingConfig


class CurationConfigError(CocoEditError):
    """A curation config is invalid; the message names the file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DifferenceConfig(_Strict):
    """Mask from an aligned (source, target) pair (:func:`cocoedit.curation.annotate.difference_mask`)."""

    threshold: float = Field(0.08, gt=0, lt=1)
    open_radius: int = Field(1, ge=0)
    close_radius: int = Field(2, ge=0)
    min_component_pixels: int = Field(16, ge=1)
    fill_boxes: bool = False


class GroundingConfig(_Strict):
    """Mask from VLM boxes: box fill, or a SAM / SAM 2 checkpoint folder (local, transformers)."""

    coordinates: BoxCoordinates = "norm1000"
    segmenter: Literal["box", "sam"] = "box"
    sam_model: Path | None = None
    device: str = "cpu"

    @model_validator(mode="after")
    def _sam_needs_model(self) -> GroundingConfig:
        if self.segmenter == "sam" and self.sam_model is None:
            raise ValueError("segmenter 'sam' needs sam_model (a local SAM or SAM 2 checkpoint folder)")
        return self


class AnnotateConfig(_Strict):
    """``difference`` needs target images; ``grounding`` needs a VLM; ``existing`` keeps the
    input's masks (e.g. to refine or re-filter CoCoEdit-40K)."""

    method: Literal["difference", "grounding", "existing"] = "difference"
    difference: DifferenceConfig = DifferenceConfig()
    grounding: GroundingConfig = GroundingConfig()


class AreaConfig(_Strict):
    """Edit-region share of the image (after augmentation) a kept sample must have."""

    min_fraction: float = Field(0.001, ge=0, le=1)
    max_fraction: float = Field(0.8, ge=0, le=1)


class RefineConfig(_Strict):
    """VLM rewrite of the instruction with location and attributes. A rewrite that keeps less than
    ``min_word_overlap`` of the original's content words is rejected (the original is kept and
    the rejection recorded): a cheap guard on "keep the original intent"."""

    enabled: bool = False
    min_word_overlap: float = Field(0.5, ge=0, le=1)


FilterKey = Literal["clarity", "mask_accuracy", "prominence"]


class FilterConfig(_Strict):
    """VLM scores 1-5; a sample is kept when every score is >= its minimum."""

    enabled: bool = False
    min_scores: dict[FilterKey, int] = Field(
        default_factory=lambda: {"clarity": 3, "mask_accuracy": 3, "prominence": 3}
    )


class VLMConfig(JudgeConfig):
    """The VLM, configured like every judge (:class:`~cocoedit.judge.config.JudgeConfig`): the CLI's
    --model, --base-url and --api-key-env override ``endpoint.model``, ``endpoint.base_url`` and
    ``endpoint.api_key_env``. Sampling settings are part of the reply cache key."""

    endpoint: EndpointConfig = EndpointConfig()
    sampling: SamplingConfig = SamplingConfig(max_tokens=256)
    parse_retries: int = Field(1, ge=0)


class BuildConfig(_Strict):
    annotate: AnnotateConfig = AnnotateConfig()
    augment: AugmentConfig = AugmentConfig()
    area: AreaConfig = AreaConfig()
    refine: RefineConfig = RefineConfig()
    filter: FilterConfig = FilterConfig()
    vlm: VLMConfig = VLMConfig()
    workers: int = Field(4, ge=1)
    media: Literal["copy", "link"] = "copy"  # link: hard links (a symlink would leave the dataset)

    @property
    def needs_vlm(self) -> bool:
        return self.annotate.method == "grounding" or self.refine.enabled or self.filter.enabled

    def decision_fields(self) -> dict[str, Any]:
        """The settings that decide outcomes: a resumed run must have the same ones. Endpoint
        and throughput settings (where the VLM runs, how many requests at once) may change."""
        data = self.model_dump(mode="json")
        endpoint = data["vlm"]["endpoint"]
        data["vlm"] = {
            "model": endpoint["model"],
            "sampling": data["vlm"]["sampling"],
            "images": {k: endpoint[k] for k in ("image_format", "jpeg_quality", "max_image_side")},
        }
        data.pop("workers")
        return data


def load_build_config(
    path: str | Path, endpoint: dict[str, Any] | None = None, workers: int | None = None
) -> BuildConfig:
    """Read a curation config (a YAML file or a shipped preset's name); ``endpoint`` overrides fields of
    ``vlm.endpoint`` and ``workers`` the number of samples in flight (the command line's --model,
    --base-url, --api-key-env, --workers)."""
    path = resolve_config(path, "data build", CurationConfigError)
    data = read_yaml_mapping(path, CurationConfigError)
    if endpoint:
        vlm = data.get("vlm") or {}
        current = (vlm.get("endpoint") or {}) if isinstance(vlm, dict) else None
        if not isinstance(current, dict):
            raise CurationConfigError(f"{path}: vlm and vlm.endpoint must be mappings")
        data["vlm"] = {**vlm, "endpoint": {**current, **endpoint}}
    if workers is not None:
        data["workers"] = workers
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as e:
        raise CurationConfigError(explain_validation_error(e, BuildConfig, str(path))) from None
