"""Training configuration: pydantic models loaded from YAML presets, with ``--set`` overrides.

Unknown keys are rejected and the nearest valid key is suggested. Every key is documented in
``docs/training.md``; defaults are the reference's (method.md §b–§e) unless the field says
otherwise.
"""

from __future__ import annotations

import logging
import os
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cocoedit.core.errors import CocoEditError
from cocoedit.core.presets import resolve_config
from cocoedit.core.settings import apply_overrides, explain_validation_error, read_yaml_mapping
from cocoedit.models.backbone import MAX_WORKING_SIDE
from cocoedit.rewards.registry import BUILTIN_REWARDS, RewardComponent
from cocoedit.rl.nft_loss import minimum_timestep_fraction, trained_timesteps
from cocoedit.rl.old_configs import upgrade_old_spellings

logger = logging.getLogger("cocoedit.config")
Tracker = Literal["tensorboard", "wandb"]


class ConfigError(CocoEditError):
    """A configuration file or override is invalid; the message names the key."""


class _Section(BaseModel):
    # .nan and .inf parse as YAML floats; no key of a training config means anything with them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModelConfig(_Section):
    path: str = Field(description="Local pipeline folder or hub id of the base editor.")
    backbone: str | None = Field(
        None,
        description="kontext | qwen-image-edit | qwen-image-edit-plus | flux2-klein | flux2 | qwen-image-2.1; "
        "None = detect from model_index.json.",
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32",
        description="Weights dtype of the transformer and text encoders (the LoRA adapters are float32 whatever "
        "this is; on CUDA the passes run under bf16 autocast).",
    )
    vae_dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="Dtype of the VAE (reference: float32)."
    )
    height: int = Field(
        512,
        gt=0,
        le=MAX_WORKING_SIDE,
        description=f"Working resolution (ours, not the pipelines' 1024^2); at most {MAX_WORKING_SIDE}.",
    )
    width: int = Field(512, gt=0, le=MAX_WORKING_SIDE)
    guidance: float | None = Field(
        None, description="Backbone guidance (Kontext embedding 2.5 in the reference); None = backbone default."
    )
    lora_rank: int = Field(32, ge=1)
    lora_alpha: float = Field(64.0, gt=0)
    lora_targets: list[str] | None = Field(None, description="None = the backbone's default targets.")
    gradient_checkpointing: bool = True
    backbone_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Passed to the backbone, e.g. max_sequence_length (Kontext, FLUX.2), condition_area (Qwen).",
    )


class DataConfig(_Section):
    manifest: str = Field(description="Training manifest (JSONL or CoCoEdit-40K metadata.jsonl).")
    validation_manifest: str | None = Field(None, description="Held-out manifest evaluated every validate_every steps.")
    validation_samples: int = Field(8, ge=1, description="Validation rows used (the first N).")


class RolloutConfig(_Section):
    prompts_per_epoch: int = Field(24, ge=1)
    group_size: int = Field(12, ge=2, description="Samples per (image, instruction) group.")
    batch_size: int = Field(3, ge=1, description="Samples per sampling forward pass, per process.")
    steps: int = Field(10, ge=1)
    sampler: Literal["dpm2", "euler", "sde"] = Field(
        "dpm2",
        description="dpm2 (reference, deterministic), euler or sde (Flow-GRPO's SDE: noise at every step but the "
        "last, each sample's own).",
    )
    sde_noise_level: float = Field(0.7, ge=0, description="Only for sampler=sde.")
    initial_noise: Literal["independent", "localized"] = Field(
        "independent",
        description="independent: every sample its own initial noise; localized: a group's samples share the "
        "keep region's noise and differ on the edit region only (after RC-GRPO-Editing).",
    )
    edit_noise_scale: float = Field(
        1.0,
        ge=0,
        le=1,
        description="localized only: share of each sample's own noise on the edit region, s in "
        "sqrt(1 - s^2) shared + s own (1: independent there; 0: the group's samples are identical).",
    )


class RewardConfig(_Section):
    components: list[RewardComponent] = Field(
        min_length=1,
        description="The reward components, one entry each: {name, function, weight, options} (docs/training.md).",
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="Reward threads overlapping with sampling; None: one per sampling batch of the epoch, so the "
        "threads never cap how many judge requests are in flight (the judge's concurrency does).",
    )
    max_unscored_fraction: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Largest share of an epoch's samples a component may fail to score before the run stops.",
    )

    @model_validator(mode="after")
    def _check(self) -> RewardConfig:
        names = [c.name for c in self.components]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"reward.components names {', '.join(map(repr, twice))} more than once")
        if not any(c.weight for c in self.components):
            raise ValueError("at least one of reward.components must have a weight above 0")
        return self

    @property
    def weights(self) -> dict[str, float]:
        """Component name -> weight, in the order of ``components``."""
        return {c.name: c.weight for c in self.components}

    def component(self, name: str) -> RewardComponent:
        """The component called ``name``."""
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(f"no reward component {name!r}; the components are {', '.join(self.weights)}")


class AdvantageConfig(_Section):
    normaliser: Literal["global", "group"] = "global"
    adv_clip_max: float = Field(5.0, gt=0)
    std_eps: float = Field(1e-4, gt=0)
    std_threshold: float = Field(
        0.02,
        ge=0,
        description="Groups whose reward std is at or below are excluded from the loss. In the components' units "
        "(rewards in [0, 1]): the std of their weighted mean sum_k w_k s_k / sum_k w_k (region credit: each "
        "region's weighted mean).",
    )
    mean_threshold: float = Field(
        0.9, description="Groups with mean at or above are excluded from the loss (the same weighted mean)."
    )
    ban_saturated: bool = Field(
        True, description="Never sample again a group with std below and mean above the thresholds."
    )
    no_signal_steps: int = Field(
        5,
        ge=0,
        description="Stop the run (one-line error) when no group has carried a learning signal for this many "
        "steps in a row, and warn when most groups have not; 0 never stops.",
    )


class NFTConfig(_Section):
    beta: float = Field(1.0, gt=0, description="Mixing coefficient of the positive/negative velocities.")
    kl_weight: float = Field(1e-4, ge=0, description="Weight of ||v_theta - v_ref||^2 (reference train.beta).")
    timestep_fraction: float = Field(0.99, gt=0, le=1, description="Share of rollout timesteps trained on per sample.")


class RegularizerConfig(_Section):
    enabled: bool = True
    lambda_ner: float = Field(0.8, ge=0)
    lambda_er: float = Field(0.5, ge=0)
    tau_pos: float = Field(1e-3, ge=0)
    tau_neg: float = Field(3e-2, ge=0)
    erode_radius: int = Field(2, ge=0)
    ring_weight: float = Field(0.2, ge=0, le=1)
    positive_target: Literal["source", "sample"] = Field("source", description="Paper: source; reference code: sample.")
    edit_term: Literal["reference", "push_positive", "pull_negative", "off"] = Field(
        "reference",
        description="Form of the edit-region term (docs/training.md): reference = the paper's and the reference "
        "code's relu(tau_neg - d(x0-, src)), which pulls the policy towards under-editing; push_positive / "
        "pull_negative "
        "move it away from the source as the paper intends.",
    )
    edit_distance: Literal["squared", "sqrt", "l1"] = Field(
        "squared",
        description="Distance of the edit-region term: squared (reference; its gradient vanishes at an unedited "
        "output), sqrt or l1 (tau_neg is then in those units).",
    )


class CreditConfig(_Section):
    """Which part of the image each reward component is credit for (docs/training.md#region-aware-credit)."""

    assignment: Literal["single", "region"] = Field(
        "single",
        description="single: one optimality probability r per sample from the combined reward (the paper); "
        "region: the edit region's r from the edit rewards, the keep region's from the keep rewards.",
    )
    edit_rewards: list[str] = Field(
        default_factory=list, description="region: reward components that score the edit region (by name)."
    )
    keep_rewards: list[str] = Field(
        default_factory=list,
        description="region: reward components that score the keep region (by name). A region with none gets "
        "no credit: the policy loss leaves it alone (the region regularizers still act).",
    )
    ring_radius: int = Field(
        1, ge=0, description="region: latent pixels on each side of the mask boundary that form the ring."
    )
    ring_weight: float = Field(
        0.5, ge=0, le=1, description="region: share of the edit region's r in the ring's (the rest: the keep's)."
    )
    region_weights: Literal["area", "equal"] = Field(
        "area",
        description="region: area = each region weighs in the loss by its area (the per-sample mean of the paper's "
        "loss); equal = the edit and the keep region weigh the same whatever their areas.",
    )


class OptimConfig(_Section):
    lr: float = Field(3e-4, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(1e-4, ge=0)
    eps: float = Field(1e-8, gt=0)
    grad_clip: float = Field(1.0, gt=0)
    train_batch_size: int = Field(3, ge=1, description="Samples per training forward pass, per process.")
    old_policy_decay: Literal["none", "linear", "delayed"] = "linear"
    skip_step_without_valid: bool = Field(
        True, description="Skip the optimizer step when no sample is valid (the reference steps anyway)."
    )


class WandbConfig(_Section):
    project: str | None = Field(None, description="wandb project (None: wandb's default).")
    entity: str | None = Field(None, description="wandb entity (user or team).")
    name: str | None = Field(None, description="Display name of the run.")
    tags: list[str] = Field(default_factory=list, description="Tags of the run.")


class TrainConfig(_Section):
    epochs: int = Field(1000, ge=1, description="Epochs = optimizer steps.")
    seed: int = 42
    checkpoint_every: int = Field(30, ge=1)
    keep_last: int = Field(3, ge=1)
    validate_every: int = Field(30, ge=1)
    sample_grid_every: int = Field(30, ge=1)
    condition_cache_size: int = Field(256, ge=1, description="Encoded (instruction, image) conditions kept in memory.")
    report_to: list[Tracker] = Field(
        ["tensorboard"],
        description="Trackers that get the scalars and sample grids besides metrics.jsonl: any of tensorboard and "
        "wandb, several at once; [] or none for neither. train.logger is its old name.",
    )
    wandb: WandbConfig = Field(
        WandbConfig(), description="wandb settings (report_to has wandb); a resumed run logs into the same wandb run."
    )
    device: str | None = Field(None, description="None: CUDA when available, else CPU.")
    parallel: Literal["ddp", "fsdp2"] = Field(
        "ddp",
        description="Several processes: ddp keeps a full transformer on each and all-reduces the LoRA "
        "gradients; fsdp2 shards the transformer (torch fully_shard) per block.",
    )
    cudnn_attention: bool = Field(
        False,
        description="Allow PyTorch's cuDNN attention backend; its backward crashed (illegal memory access) with "
        "torch 2.11 + CUDA 13 on H100.",
    )

    @field_validator("report_to", mode="before")
    @classmethod
    def _trackers(cls, value: Any) -> Any:
        if isinstance(value, str):  # TRL and accelerate also take one name, and "none"
            value = [] if value == "none" else [value]
        if isinstance(value, list):
            unknown = [v for v in value if v not in typing.get_args(Tracker)]
            if unknown:
                raise ValueError(f"unknown tracker {unknown[0]!r} (choose from tensorboard, wandb)")
            twice = sorted({v for v in value if value.count(v) > 1})
            if twice:
                raise ValueError(f"names {', '.join(twice)} twice")
        return value


class CocoEditConfig(_Section):
    model: ModelConfig
    data: DataConfig
    sampling: RolloutConfig = RolloutConfig()
    reward: RewardConfig
    advantage: AdvantageConfig = AdvantageConfig()
    nft: NFTConfig = NFTConfig()
    regularizer: RegularizerConfig = RegularizerConfig()
    credit: CreditConfig = CreditConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()

    @model_validator(mode="before")
    @classmethod
    def _read_old_spellings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data, notices = upgrade_old_spellings(data)
        if int(os.environ.get("RANK", "0")) == 0:  # once per launch, not once per process
            for notice in notices:
                logger.warning(notice)
        return data

    @model_validator(mode="after")
    def _check(self) -> CocoEditConfig:
        steps, fraction = self.sampling.steps, self.nft.timestep_fraction
        if trained_timesteps(steps, fraction) < 1:
            raise ValueError(
                f"nft.timestep_fraction {fraction:g} of sampling.steps {steps} is {steps * fraction:.3g} timesteps, "
                f"less than one; the smallest fraction for {steps} steps is {minimum_timestep_fraction(steps):.4g}"
            )
        self._check_credit()
        return self

    def _check_credit(self) -> None:
        c, weights = self.credit, self.reward.weights
        named = {"credit.edit_rewards": c.edit_rewards, "credit.keep_rewards": c.keep_rewards}
        for key, names in named.items():
            unknown = [n for n in names if n not in weights]
            if unknown:
                raise ValueError(f"{key} names {unknown[0]!r}, which is not a reward component ({', '.join(weights)})")
        if c.assignment != "region":
            return
        if not any(weights[n] for names in named.values() for n in names):
            raise ValueError(
                "credit.assignment is region but credit.edit_rewards and credit.keep_rewards name no "
                "component with a weight above 0"
            )
        unplaced = [n for n, w in weights.items() if w and n not in c.edit_rewards and n not in c.keep_rewards]
        if unplaced:
            raise ValueError(
                f"credit.assignment is region but reward component {unplaced[0]!r} is in neither "
                "credit.edit_rewards nor credit.keep_rewards"
            )


#: Keys that may change when a run is resumed: they do not change the optimisation.
RESUMABLE_CHANGES = (
    "train.epochs",
    "train.checkpoint_every",
    "train.keep_last",
    "train.validate_every",
    "train.sample_grid_every",
    "train.report_to",
    "train.wandb.",
    "train.device",
    "train.condition_cache_size",
    "train.cudnn_attention",
    "train.parallel",
    "reward.workers",
    "reward.max_unscored_fraction",
)
# Each reward component's resumable options (the judge's endpoint, cache and health check) are
# added per component by :func:`resumable_changes`.


def resumable_changes(config: CocoEditConfig) -> tuple[str, ...]:
    """:data:`RESUMABLE_CHANGES` and each built-in reward component's resumable options, as
    ``reward.components.<name>.options.<key>`` (the components keyed by name, as a resume
    compares them)."""
    out = list(RESUMABLE_CHANGES)
    for c in config.reward.components:
        factory = BUILTIN_REWARDS.get(c.target)
        out += [f"reward.components.{c.name}.options.{key}" for key in (factory.resumable if factory else ())]
    return tuple(out)


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, base: dict[str, Any] | None = None
) -> CocoEditConfig:
    """Read a YAML file or a shipped preset's name (or start from ``base``), apply overrides, validate."""
    data: dict[str, Any] = dict(base or {})
    source = "config"
    if path is not None:
        path = resolve_config(path, "train", ConfigError)
        source = str(path)
        data.update(read_yaml_mapping(path, ConfigError))
    set_paths: list[tuple[tuple[Any, ...], str]] = []
    apply_overrides(data, overrides or [], ConfigError, set_paths)
    try:
        return CocoEditConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(explain_validation_error(e, CocoEditConfig, source, set_paths)) from None
