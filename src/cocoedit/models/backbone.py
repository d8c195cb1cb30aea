"""The backbone interface: what the RL loop, the samplers and `cocoedit edit` need from an editor.

An :class:`EditBackbone` wraps a stock diffusers pipeline (loaded with its own ``from_pretrained``)
and exposes a handful of operations that are the same for every editor:

* :meth:`~EditBackbone.encode_condition` — instruction + source image -> :class:`EditCondition`
  (text embeddings, optional negative embeddings for CFG, packed source latents). Computed once
  per prompt and reused for every sample, timestep and policy (current / old / reference).
* :meth:`~EditBackbone.predict_velocity` — velocity of noisy packed target latents at a sigma: the
  source tokens are concatenated after the target tokens along the sequence axis, the output is
  sliced back to the target tokens, and guidance (Kontext's distilled embedding, Qwen's true CFG)
  is applied inside.
* :meth:`~EditBackbone.initial_noise`, :meth:`~EditBackbone.sigma_schedule`,
  :meth:`~EditBackbone.decode`, :meth:`~EditBackbone.pack` / :meth:`~EditBackbone.unpack` (packed
  ``[B, N, 4C]`` <-> latent grid ``[B, C, h, w]`` for mask operations on the latent grid), and the
  LoRA target modules.

Conventions: images are float ``[B, 3, H, W]`` in [0, 1] (or PIL images); ``H, W`` is the
*working resolution*, chosen by the caller and never by a pipeline's hard-coded 1024² area; it
must be a multiple of :attr:`EditBackbone.resolution_multiple`. Flow matching: ``x_σ = (1 − σ) x0
+ σ ε`` and the model predicts ``v ≈ ε − x0``; the transformer receives ``timestep = σ``.

Packing and :class:`EditCondition` live in :mod:`cocoedit.models.condition`; which class serves
which editor is :mod:`cocoedit.models.registry`. Nothing outside this package may branch on which
backbone it holds.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cocoedit.models.condition import BackboneError, EditCondition, ImageInput, pack_latents, unpack_latents
from cocoedit.models.condition import as_pil_list as as_pil_list  # re-exported for the backbones

#: LoRA targets of both reference training scripts (method.md §e.5): the joint-attention
#: projections of the image and text streams.
DEFAULT_LORA_TARGETS: tuple[str, ...] = (
    "attn.to_q",
    "attn.to_k",
    "attn.to_v",
    "attn.to_out.0",
    "attn.add_q_proj",
    "attn.add_k_proj",
    "attn.add_v_proj",
    "attn.to_add_out",
)


#: Largest working height or width: 4096² is 16.8 M pixels, 16x FLUX's native 1024², and 65,536
#: latent tokens for Kontext; beyond it one sample alone outgrows the biggest GPUs' memory.
MAX_WORKING_SIDE = 4096


def check_working_side(kind: str, height: int, width: int, multiple: int | None = None) -> None:
    """Refuse a working size that is not positive, above :data:`MAX_WORKING_SIDE`, or (when
    ``multiple`` is known) not made of multiples of it."""
    if height <= 0 or width <= 0 or (multiple is not None and (height % multiple or width % multiple)):
        what = f"positive multiples of {multiple}" if multiple is not None else "positive"
        raise BackboneError(f"{kind}: working size {height}x{width} must be {what}")
    if max(height, width) > MAX_WORKING_SIDE:
        raise BackboneError(
            f"{kind}: working size {height}x{width} is above the largest supported side, {MAX_WORKING_SIDE} pixels"
        )


class EditBackbone(ABC):
    """One instruction-based editor behind the operations the RL loop needs (see module doc).

    Subclasses set :attr:`kind` and :attr:`pipeline_class` and implement the abstract methods.
    Build one with :meth:`from_pretrained` (a local folder or hub id, dtype and device chosen by
    the caller) or :meth:`from_pipeline` (an already built pipeline).
    """

    kind: str = ""
    pipeline_class_name: str = ""
    #: Guidance scale used when the caller gives none.
    default_guidance: float = 1.0
    #: Negative instruction of true classifier-free guidance when the caller gives none.
    default_negative_instruction: str = " "
    #: Module-name suffixes that get LoRA adapters unless the caller names others.
    default_lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    #: Whether ``predict_velocity`` may call the transformer a number of times that depends on the
    #: batch's contents (Qwen-Image-2.1: one call per prompt length). Sharded training needs every
    #: process to make the same calls, so ``train.parallel: fsdp2`` is refused for such backbones.
    transformer_calls_vary: bool = False

    def __init__(self, pipeline: Any):
        self.pipeline = pipeline
        self.lora_target_modules: tuple[str, ...] = self.default_lora_targets
        #: Pipeline components that :meth:`to` leaves on the CPU (a backbone option may keep a large
        #: text encoder there); the backbone moves what they compute to :attr:`device` itself.
        self.cpu_components: tuple[str, ...] = ()
        self._placement: tuple[torch.device, torch.dtype] | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def vae_scale_factor_from_config(cls, vae_config: dict[str, Any]) -> int | None:
        """The pipeline's ``vae_scale_factor`` read from its ``vae/config.json``, so that a working
        size can be checked before the model loads; ``None`` when a backbone cannot tell."""
        return None

    @classmethod
    def check_working_size_from_files(
        cls, read_json: Callable[[str], dict[str, Any] | None], height: int, width: int
    ) -> None:
        """Refuse a working size from the pipeline's config files alone, before any weights are
        read; ``read_json(name)`` gives a file of the pipeline (``"vae/config.json"``) or ``None``.
        By default: sides must be multiples of the VAE's downsampling times the 2x2 token packing,
        when :meth:`vae_scale_factor_from_config` can tell it."""
        vae_config = read_json("vae/config.json")
        if vae_config is None:
            return
        try:
            factor = cls.vae_scale_factor_from_config(vae_config)
        except (KeyError, TypeError, ValueError):
            return
        if factor is not None:
            check_working_side(cls.kind, height, width, factor * 2)

    @classmethod
    def component_overrides(cls, model: str | Path, dtype: torch.dtype) -> dict[str, Any]:
        """Components to build ourselves instead of letting the stock ``from_pretrained`` load them
        (passed to it as keyword arguments); by default none. Backbones use it for processors whose
        stock class cannot be imported here (transformers' video processors need torchvision)."""
        return {}

    #: Overridden components that are skipped at load (passed as ``None``) and set afterwards:
    #: diffusers checks a passed component against the class ``model_index.json`` names, which
    #: fails when that class cannot be imported. Only for components the pipeline's constructor
    #: does not use.
    components_set_after_load: tuple[str, ...] = ()

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The keyword options the constructor takes besides the pipeline
        (``model.backbone_options``)."""
        parameters = list(inspect.signature(cls.__init__).parameters.values())[2:]  # self, pipeline
        return tuple(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Refuse an option the constructor does not take, or a value of another type than the
        option's default (``max_sequence_length: abc``), before any weights are read."""
        unknown = sorted(set(options) - set(cls.option_names()))
        if unknown:
            accepted = ", ".join(cls.option_names()) or "none"
            raise BackboneError(f"{cls.kind}: unknown backbone option {unknown[0]!r} (accepted: {accepted})")
        defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()}
        for name, value in options.items():
            default = defaults.get(name, inspect.Parameter.empty)
            if default is inspect.Parameter.empty or default is None:
                continue
            expected = (int, float) if type(default) is float else (type(default),)
            if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, expected):
                kind = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
                raise BackboneError(
                    f"{cls.kind}: backbone option {name!r} must be {kind.get(type(default), type(default).__name__)} "
                    f"(its default is {default!r}), got {value!r}"
                )

    @classmethod
    def pipeline_class(cls):
        import diffusers

        return getattr(diffusers, cls.pipeline_class_name)

    @classmethod
    def from_pipeline(cls, pipeline: Any, **options: Any) -> EditBackbone:
        expected = cls.pipeline_class()
        if not isinstance(pipeline, expected):
            raise BackboneError(f"{cls.kind} needs a {expected.__name__}, got {type(pipeline).__name__}")
        cls.check_options(options)
        return cls(pipeline, **options)

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        **options: Any,
    ) -> EditBackbone:
        """Load with the stock pipeline class's ``from_pretrained``; ``device=None`` leaves it on CPU."""
        cls.check_options(options)
        overrides = cls.component_overrides(model, dtype)
        passed = {k: (None if k in cls.components_set_after_load else v) for k, v in overrides.items()}
        pipe = cls.pipeline_class().from_pretrained(str(model), dtype=dtype, **passed)
        late = {k: v for k, v in overrides.items() if k in cls.components_set_after_load}
        if late:
            pipe.register_modules(**late)
        for name in ("transformer", "vae", "text_encoder", "text_encoder_2"):
            module = getattr(pipe, name, None)
            if module is not None:
                module.eval()
        backbone = cls(pipe, **options)
        if device is not None:  # after the options are known: a component they keep on the CPU never moves
            backbone.to(device)
        return backbone

    # -- common helpers -----------------------------------------------------------------------
    @property
    def transformer(self) -> torch.nn.Module:
        return self.pipeline.transformer

    def _placement_now(self) -> tuple[torch.device, torch.dtype]:
        # diffusers finds these by walking every module (milliseconds per call, more than a tiny
        # model's forward), so they are looked up once; see refresh_placement.
        if self._placement is None:
            # diffusers' execution device is any component not on the CPU, or else the first by name
            # (a text encoder kept on the CPU): with such components it is the transformer's.
            device = self.transformer.device if self.cpu_components else self.pipeline._execution_device
            self._placement = (device, self.transformer.dtype)
        return self._placement

    def set_vae_dtype(self, dtype: torch.dtype) -> None:
        """Run the VAE (encoding sources, decoding samples) in ``dtype``; a no-op for editors
        without one. The reference keeps the VAE in float32 under a bf16 transformer."""
        vae = getattr(self.pipeline, "vae", None)
        if vae is not None and vae.dtype != dtype:  # a no-op cast still makes diffusers warn
            vae.to(dtype=dtype)

    def to(self, device: str | torch.device) -> EditBackbone:
        """Move the pipeline to ``device``, all but :attr:`cpu_components`, which stay on the CPU."""
        if not self.cpu_components:
            self.pipeline.to(device)
        else:
            for name, component in self.pipeline.components.items():
                if isinstance(component, torch.nn.Module):
                    component.to("cpu" if name in self.cpu_components else device)
        self.refresh_placement()
        return self

    def refresh_placement(self) -> None:
        """Forget the cached device and dtype: call after moving the pipeline, changing its
        dtype or enabling CPU offload."""
        self._placement = None

    @property
    def device(self) -> torch.device:
        """Where inputs must live (the execution device, also under CPU offload)."""
        return self._placement_now()[0]

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of latents and text embeddings: the transformer's."""
        return self._placement_now()[1]

    @property
    def vae_scale_factor(self) -> int:
        return self.pipeline.vae_scale_factor

    @property
    def latent_channels(self) -> int:
        """Channels ``C`` of the unpacked latent grid."""
        return self.pipeline.latent_channels

    @property
    def resolution_multiple(self) -> int:
        """Working heights and widths must be multiples of this (VAE factor × 2×2 packing)."""
        return self.vae_scale_factor * 2

    def check_resolution(self, height: int, width: int) -> None:
        check_working_side(self.kind, height, width, self.resolution_multiple)

    def latent_grid(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)`` of the unpacked latent grid for a working resolution."""
        self.check_resolution(height, width)
        return height // self.vae_scale_factor, width // self.vae_scale_factor

    def num_tokens(self, height: int, width: int) -> int:
        """Number of packed target tokens at a working resolution."""
        h, w = self.latent_grid(height, width)
        return (h // 2) * (w // 2)

    def pack(self, latents: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` -> packed ``[B, N, 4C]``."""
        return pack_latents(latents)

    def unpack(self, packed: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Packed ``[B, N, 4C]`` at working size ``height x width`` -> ``[B, C, h, w]``."""
        return unpack_latents(packed, self.latent_grid(height, width))

    def initial_noise(
        self, batch_size: int, height: int, width: int, generator: torch.Generator | list[torch.Generator] | None = None
    ) -> torch.Tensor:
        """Packed standard-normal latents, drawn exactly as the stock pipeline draws them."""
        from diffusers.utils.torch_utils import randn_tensor

        h, w = self.latent_grid(height, width)
        noise = randn_tensor(
            (batch_size, self.latent_channels, h, w), generator=generator, device=self.device, dtype=self.dtype
        )
        return self.pack(noise)

    def sigma_schedule(self, num_steps: int, height: int, width: int) -> torch.Tensor:
        """The ``num_steps + 1`` sigmas (float64, last = 0) the stock pipeline uses at this size.

        :meth:`unshifted_sigmas` (``linspace(1, 1/N, N)`` unless a backbone says otherwise) passed
        through the model scheduler's own shift with ``mu`` from :meth:`schedule_mu` (dynamic
        exponential shift, then the terminal stretch if the scheduler config has one); computed by a
        copy of the pipeline's scheduler so the checkpoint's config is what decides (method.md §i.20).
        """
        if num_steps < 1:
            raise BackboneError(f"num_steps must be >= 1, got {num_steps}")
        scheduler = copy.deepcopy(self.pipeline.scheduler)
        with np.errstate(divide="ignore", invalid="ignore"):
            scheduler.set_timesteps(
                sigmas=self.unshifted_sigmas(num_steps), mu=self.schedule_mu(num_steps, height, width), device="cpu"
            )
        sigmas = scheduler.sigmas.to(torch.float64)
        if not bool(torch.isfinite(sigmas).all()):
            # The terminal stretch (shift_terminal) divides by 1 - sigma at the last step: with one step
            # that is 0/0, and the stock pipeline would sample from NaN.
            raise BackboneError(
                f"{self.kind}: {num_steps} step(s) give a non-finite schedule with this checkpoint's scheduler "
                f"(shift_terminal={scheduler.config.get('shift_terminal')}); use at least 2 steps"
            )
        return sigmas

    def unshifted_sigmas(self, num_steps: int) -> np.ndarray:
        """The ``num_steps`` sigmas before the scheduler's shift (no terminal 0): ``linspace(1, 1/N, N)``,
        as the Flux and Qwen-Image pipelines pass them."""
        return np.linspace(1.0, 1.0 / num_steps, num_steps)

    def schedule_mu(self, num_steps: int, height: int, width: int) -> float:
        """The scheduler's dynamic shift ``mu`` at this size: by default interpolated linearly in the
        target token count between the scheduler config's ``base_shift`` and ``max_shift``, as the
        Flux and Qwen-Image pipelines compute it. FLUX.2 overrides it (its ``mu`` depends on the steps)."""
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift

        cfg = self.pipeline.scheduler.config
        return calculate_shift(
            self.num_tokens(height, width),
            cfg.get("base_image_seq_len", 256),
            cfg.get("max_image_seq_len", 4096),
            cfg.get("base_shift", 0.5),
            cfg.get("max_shift", 1.15),
        )

    def resolve_guidance(self, guidance: float | None) -> float:
        return self.default_guidance if guidance is None else float(guidance)

    def resolve_negative_instruction(self, negative_instruction: str | None) -> str:
        return self.default_negative_instruction if negative_instruction is None else negative_instruction

    def _sigma_vector(self, sigma: float | torch.Tensor, batch_size: int) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        if sigma.ndim == 0:
            sigma = sigma.expand(batch_size)
        if sigma.shape != (batch_size,):
            raise BackboneError(f"sigma must be a scalar or shape [{batch_size}], got {tuple(sigma.shape)}")
        return sigma.to(device=self.device, dtype=self.dtype)

    # -- backbone specifics -------------------------------------------------------------------
    @abstractmethod
    def encode_source(self, images: ImageInput, height: int, width: int) -> torch.Tensor:
        """Source images -> packed VAE latents ``[B, N_src, 4C]`` at the working resolution."""

    @abstractmethod
    def encode_condition(
        self,
        instructions: str | Sequence[str],
        images: ImageInput,
        height: int,
        width: int,
        guidance: float | None = None,
        negative_instruction: str | None = None,
    ) -> EditCondition:
        """Conditioning for (instruction, source image) pairs at a working resolution.

        ``guidance`` is the backbone's guidance scale (``None``: :attr:`default_guidance`);
        ``negative_instruction`` is used only by backbones with true CFG, when ``guidance > 1``
        (``None``: :attr:`default_negative_instruction`, the value the stock pipeline uses).
        """

    @abstractmethod
    def predict_velocity(
        self, latents: torch.Tensor, sigma: float | torch.Tensor, condition: EditCondition
    ) -> torch.Tensor:
        """Velocity ``[B, N, 4C]`` of packed noisy target latents at ``sigma`` (scalar or ``[B]``)."""

    @abstractmethod
    def decode(self, latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Packed target latents -> images ``[B, 3, H, W]`` in [0, 1] (float32)."""
