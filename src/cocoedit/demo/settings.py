"""Settings of ``cocoedit demo``: the synthetic task, the base editor's SFT, the RL arms.

The defaults are the full demo (under 10 minutes on a 2-core CPU); :data:`QUICK` shrinks every
stage for CI. A YAML file given with ``--config`` overrides any key (unknown keys are rejected).
Every key is documented in ``docs/demo.md``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cocoedit.core.errors import CocoEditError
from cocoedit.core.presets import resolve_config
from cocoedit.core.settings import explain_validation_error, read_yaml_mapping

if TYPE_CHECKING:  # the real import pulls in diffusers (seconds); settings are read before any model
    from cocoedit.demo.sft import SFTConfig


class DemoSettingsError(CocoEditError):
    """A demo settings file or value is invalid; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TaskSettings(_Section):
    train: int = Field(2000, ge=1, description="Training pairs (SFT and RL prompts).")
    validation: int = Field(16, ge=1, description="Held-out pairs scored during RL (training curves).")
    test: int = Field(60, ge=1, description="Held-out pairs of the final table and the sample grids.")
    size: int = Field(32, ge=16, le=512, description="Square image side; a multiple of 4, at most 512 (a CPU demo).")
    seed: int = 0


class BaseEditorSettings(_Section):
    """``cocoedit sft`` of the pixel editor (cocoedit.demo.sft.SFTConfig)."""

    steps: int = Field(2400, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(2e-3, gt=0)
    drift_probability: float = Field(
        0.5, ge=0, le=1, description="Share of targets whose keep region is colour-shifted."
    )
    drift_strength: float = Field(0.15, ge=0)
    partial_edit_probability: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of targets whose edit is done only in part (so the editor's edits depend on its noise).",
    )
    partial_edit_min: float = Field(0.4, ge=0, le=1, description="Weakest strength of a partial edit.")
    edit_loss_weight: float = Field(4.0, ge=1)
    ema_decay: float = Field(
        0.99, ge=0, lt=1, description="Saved weights: moving average of the trained ones (0 = last step)."
    )
    heads: int = Field(4, ge=1)
    head_dim: int = Field(16, ge=4)
    layers: int = Field(2, ge=0)
    single_layers: int = Field(2, ge=0)
    conditioning: Literal["channels", "sequence"] = Field(
        "channels",
        description="Source as extra token features (channels) or as extra tokens, Kontext-style (sequence).",
    )
    prediction: Literal["source_residual", "velocity"] = Field(
        "source_residual",
        description="The transformer predicts the clean image's residual to the source, or the velocity.",
    )
    seed: int = 0


class RLSettings(_Section):
    """Shared by every arm: equal budgets, only the rewards and the regularizers differ."""

    epochs: int = Field(30, ge=1, description="Optimizer steps per run.")
    prompts_per_epoch: int = Field(4, ge=1)
    group_size: int = Field(8, ge=2)
    sampling_steps: int = Field(6, ge=1, description="Rollout and evaluation sampler steps.")
    sampler: Literal["dpm2", "euler", "sde"] = Field(
        "dpm2", description="Rollout sampler of every arm (evaluation uses dpm2 for sde, deterministic)."
    )
    sde_noise_level: float = Field(0.7, ge=0, description="Only for sampler sde.")
    edit_noise_scale: float = Field(
        1.0, ge=0, le=1, description="Edit-region noise scale of the arms with localized initial noise."
    )
    ring_radius: int = Field(
        0,
        ge=0,
        description="Region credit's ring, in latent pixels either side of the boundary (0: a shape spans 4-6 latent "
        "pixels here, a ring would cover most of it).",
    )
    ring_weight: float = Field(0.5, ge=0, le=1, description="Share of the edit region's r in the ring's.")
    lr: float = Field(5e-3, gt=0)
    lora_rank: int = Field(8, ge=1)
    timestep_fraction: float = Field(
        0.34, gt=0, le=1, description="Share of the rollout timesteps trained on (2 of 6)."
    )
    kl_weight: float = Field(0.0, ge=0, description="0 skips the reference forward pass (a third of the compute).")
    judge_weight: float = Field(
        0.8, ge=0, description="Judge weight in the arms that add the pixel reward (paper 0.8)."
    )
    pixel_weight: float = Field(0.2, ge=0, description="Pixel reward weight in those arms (paper 0.2).")
    validate_every: int = Field(10, ge=1, description="Steps between validations (training curves).")
    erode_radius: int = Field(
        0,
        ge=0,
        description=(
            "Region regularizers' erosion in latent pixels (reference 2 at 64x64 latents). Here a shape "
            "spans a few latent pixels, so erosion would turn most of the edit region into the ring that "
            "the keep term pulls towards the source, and suppress the edit."
        ),
    )
    lambda_ner: float = Field(
        0.8, ge=0, description="Keep-region term weight in the CoCoEdit arms (reference Qwen 0.8)."
    )
    lambda_er: float = Field(
        0.5, ge=0, description="Edit-region term weight in the CoCoEdit arms (reference Qwen 0.5)."
    )
    positive_target: Literal["source", "sample"] = Field(
        "source", description="Keep-term target in the CoCoEdit arms (paper: source; reference code: sample)."
    )
    corrected_edit_term: Literal["push_positive", "pull_negative"] = Field(
        "push_positive", description="Edit-region term of arm (d), the corrected CoCoEdit."
    )
    corrected_edit_distance: Literal["squared", "sqrt", "l1"] = Field("sqrt", description="Its distance.")
    corrected_tau_neg: float = Field(0.17, ge=0, description="Its hinge (0.17 RMS is the reference's 0.03 squared).")


#: The arms of the comparison, in report order.
ARM_NAMES = ("judge", "judge_pixel", "cocoedit", "cocoedit_corrected", "region", "region_explore")
ArmName = Literal["judge", "judge_pixel", "cocoedit", "cocoedit_corrected", "region", "region_explore"]
#: The arms a default demo runs (``arms``): Edit-R1, CoCoEdit, and CoCoEdit with region credit with
#: and without localized noise (each new arm one setting away from the previous); judge + pixel and
#: the corrected edit term run on request (docs/demo.md: five arms of five seeds exceed 10 minutes).
DEFAULT_ARMS = ("judge", "cocoedit", "region", "region_explore")


class DemoSettings(_Section):
    task: TaskSettings = TaskSettings()
    base: BaseEditorSettings = BaseEditorSettings()
    rl: RLSettings = RLSettings()
    seeds: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        min_length=1,
        description="One RL run per arm and seed; the paired t interval has len(seeds) - 1 degrees of freedom.",
    )
    arms: list[ArmName] = Field(
        default_factory=lambda: list(DEFAULT_ARMS),
        min_length=1,
        description="Arms to run, in report order (ablations run a subset).",
    )
    plumbing_check: bool = Field(
        False, description="Label every result as a plumbing check whose numbers mean nothing (--quick)."
    )
    workers: int = Field(2, ge=1, description="RL runs in parallel processes (one thread each).")
    grid_samples: int = Field(8, ge=1, description="Test samples shown in the sample grid.")

    def sft_config(self) -> SFTConfig:
        from cocoedit.demo.sft import SFTConfig

        return SFTConfig(size=self.task.size, **self.base.model_dump())

    def base_key(self) -> str:
        """Cache key of the base editor: everything that changes its weights."""
        recipe = {"task": self.task.model_dump(), "base": self.base.model_dump(), "recipe": SFT_RECIPE_VERSION}
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


#: Bump when the SFT code changes what a given configuration trains (invalidates cached bases).
SFT_RECIPE_VERSION = 5

#: ``--quick``: the same pipeline at a size that runs in well under two minutes (CI).
QUICK: dict[str, Any] = {
    "task": {"train": 200, "validation": 4, "test": 12},
    "base": {"steps": 120},
    "rl": {"epochs": 3, "prompts_per_epoch": 2, "group_size": 4, "sampling_steps": 4, "validate_every": 3},
    "seeds": [0, 1],
    "grid_samples": 4,
    "plumbing_check": True,
}


@dataclass(frozen=True)
class Arm:
    """One RL arm: reward weights by component name, its ``regularizer`` config section (None: the
    region regularizers are off), its ``credit`` section (None: the paper's single r) and its
    ``sampling`` overrides (None: the shared rollout settings)."""

    name: str
    title: str
    weights: dict[str, float]
    regularizer: dict[str, Any] | None
    credit: dict[str, Any] | None = None
    sampling: dict[str, Any] | None = None

    @property
    def regularized(self) -> bool:
        return self.regularizer is not None


def arms(settings: DemoSettings, every: bool = False) -> list[Arm]:
    """The selected arms (``settings.arms``; ``every``: all of them), in report order. (c) is
    CoCoEdit as the paper and the reference write it; (d) differs from it only in the edit-region
    term; (e) is (c) with region-aware credit (the judge's r on the edit region, the pixel reward's
    on the keep region); (f) is (e) with localized initial noise."""
    rl = settings.rl
    mixed = {"edit_judge": rl.judge_weight, "pixel": rl.pixel_weight}
    shared = {
        "enabled": True,
        "erode_radius": rl.erode_radius,
        "lambda_ner": rl.lambda_ner,
        "lambda_er": rl.lambda_er,
        "positive_target": rl.positive_target,
    }
    paper = {**shared, "edit_term": "reference", "edit_distance": "squared"}
    region = {
        "assignment": "region",
        "edit_rewards": ["edit_judge"],
        "keep_rewards": ["pixel"],
        "ring_radius": rl.ring_radius,
        "ring_weight": rl.ring_weight,
    }
    localized = {"initial_noise": "localized", "edit_noise_scale": rl.edit_noise_scale}
    built = {
        "judge": Arm("judge", "(a) judge only", {"edit_judge": 1.0}, None),
        "judge_pixel": Arm("judge_pixel", "(b) judge + pixel", mixed, None),
        "cocoedit": Arm("cocoedit", "(c) CoCoEdit", mixed, paper),
        "cocoedit_corrected": Arm(
            "cocoedit_corrected",
            "(d) CoCoEdit, corrected edit term",
            mixed,
            {
                **shared,
                "edit_term": rl.corrected_edit_term,
                "edit_distance": rl.corrected_edit_distance,
                "tau_neg": rl.corrected_tau_neg,
            },
        ),
        "region": Arm("region", "(e) CoCoEdit, region credit", mixed, paper, region),
        "region_explore": Arm(
            "region_explore", "(f) CoCoEdit, region credit + localized noise", mixed, paper, region, localized
        ),
    }
    return [built[name] for name in ARM_NAMES if every or name in settings.arms]


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_demo_settings(path: str | Path | None = None, quick: bool = False) -> DemoSettings:
    """The full defaults, or :data:`QUICK` with ``quick``, then the YAML file's keys on top."""
    data: dict[str, Any] = dict(QUICK) if quick else {}
    source = "demo settings"
    if path is not None:
        path = resolve_config(path, "demo", DemoSettingsError)
        source = str(path)
        data = _merge(data, read_yaml_mapping(path, DemoSettingsError))
    try:
        settings = DemoSettings.model_validate(data)
    except ValidationError as e:
        raise DemoSettingsError(explain_validation_error(e, DemoSettings, source)) from None
    if settings.task.size % 4:
        raise DemoSettingsError(f"{source}: task.size must be a multiple of 4, got {settings.task.size}")
    return settings
