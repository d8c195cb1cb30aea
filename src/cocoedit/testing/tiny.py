"""Tiny random-weight editing pipelines, built offline, for tests, benchmarks and the CPU demo.

Every component is built from a config written here (sizes after the diffusers test suites) and
every tokenizer is built in-process from a small corpus (:mod:`cocoedit.testing.tiny_text`), so
nothing touches the model hub. The result is the stock diffusers pipeline class
(``FluxKontextPipeline``, ``QwenImageEditPipeline``, ``QwenImageEditPlusPipeline``, and
``Flux2KleinPipeline``, ``Flux2Pipeline``, ``QwenImage21Pipeline`` from
:mod:`cocoedit.testing.tiny_flux2` and :mod:`cocoedit.testing.tiny_qwen21`);
:func:`save_tiny_pipeline` writes it with ``save_pretrained`` and the same class reloads it with
``from_pretrained(dir, local_files_only=True)``.

Two departures from the diffusers test configs, both so the tiny models behave like the real ones:

* the Kontext VAE has four blocks (8x spatial compression, 16 latent channels, transformer
  ``in_channels=64``), as in FLUX.1, instead of the single-block VAE of the diffusers tests whose
  scale factor 1 turns a 64x64 image into 1024 tokens;
* the Qwen2 tokenizer's corpus contains the edit system prompt, so the template prefix the
  pipelines drop (``prompt_template_encode_start_idx = 64``) is exactly 64 tokens long, as with the
  real tokenizer.

The Qwen processor is :class:`cocoedit.core.qwen_processor.Qwen2VLImageOnlyProcessor` (no
torchvision needed).
"""

from __future__ import annotations

from pathlib import Path

import torch

from cocoedit.core.qwen_processor import Qwen2VLImageOnlyProcessor
from cocoedit.testing.tiny_flux2 import build_tiny_flux2, build_tiny_flux2_klein
from cocoedit.testing.tiny_qwen21 import build_tiny_qwen_image_21
from cocoedit.testing.tiny_text import clip_tokenizer, qwen2_tokenizer, t5_tokenizer


def build_tiny_kontext(seed: int = 0):
    """A tiny random ``FluxKontextPipeline`` (CLIP + T5 text encoders, 8x VAE, guidance embedding)."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxKontextPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=True,
        axes_dims_rope=[4, 4, 8],
    )
    tokenizer = clip_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-5,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            hidden_act="gelu",
            projection_dim=32,
        )
    )
    tokenizer_2 = t5_tokenizer()
    text_encoder_2 = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer_2),
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_decoder_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            dropout_rate=0.0,
            layer_norm_epsilon=1e-6,
            feed_forward_proj="relu",
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    vae = AutoencoderKL(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4, 4, 4, 4),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    for module in (transformer, text_encoder, text_encoder_2, vae):
        module.eval()
    return FluxKontextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096
        ),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
        image_encoder=None,
        feature_extractor=None,
    )


def _build_tiny_qwen(pipeline_cls, seed: int, zero_cond_t: bool = False):
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageTransformer2DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    torch.manual_seed(seed)
    tokenizer = qwen2_tokenizer()
    processor = Qwen2VLImageOnlyProcessor(image_processor=Qwen2VLImageProcessorPil(), tokenizer=tokenizer)
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=3,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
        zero_cond_t=zero_cond_t,
    )
    vae = AutoencoderKLQwenImage(
        base_dim=24,
        z_dim=4,
        dim_mult=[1, 2, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    )
    token_ids = {
        name: tokenizer.convert_tokens_to_ids(token)
        for name, token in (
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        )
    }
    text_encoder = Qwen2_5_VLForConditionalGeneration(
        Qwen2_5_VLConfig(
            text_config={
                "hidden_size": 16,
                "intermediate_size": 16,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 2,
                "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
                "rope_theta": 1e6,
                "vocab_size": len(tokenizer),
                "bos_token_id": None,
                "eos_token_id": tokenizer.eos_token_id,
                "pad_token_id": tokenizer.pad_token_id,
            },
            vision_config={
                "depth": 2,
                "hidden_size": 16,
                "intermediate_size": 16,
                "num_heads": 2,
                "out_hidden_size": 16,
            },
            hidden_size=16,
            vocab_size=len(tokenizer),
            **token_ids,
        )
    )
    for module in (transformer, vae, text_encoder):
        module.eval()
    # Scheduler settings of the public Qwen-Image scheduler config (method.md §e.2).
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=0.9,
        base_image_seq_len=256,
        max_image_seq_len=8192,
        shift_terminal=0.02,
        time_shift_type="exponential",
    )
    return pipeline_cls(
        transformer=transformer,
        vae=vae,
        scheduler=scheduler,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=processor,
    )


def build_tiny_qwen_image_edit(seed: int = 0):
    """A tiny random ``QwenImageEditPipeline`` (original Qwen-Image-Edit conventions)."""
    from diffusers import QwenImageEditPipeline

    return _build_tiny_qwen(QwenImageEditPipeline, seed)


def build_tiny_qwen_image_edit_plus(seed: int = 0, zero_cond_t: bool = False):
    """A tiny random ``QwenImageEditPlusPipeline``: Qwen-Image-Edit-2509 conventions, or with
    ``zero_cond_t`` 2511's (the source tokens modulated at timestep 0)."""
    from diffusers import QwenImageEditPlusPipeline

    return _build_tiny_qwen(QwenImageEditPlusPipeline, seed, zero_cond_t)


TINY_BUILDERS = {
    "kontext": build_tiny_kontext,
    "qwen-image-edit": build_tiny_qwen_image_edit,
    "qwen-image-edit-plus": build_tiny_qwen_image_edit_plus,
    "flux2-klein": build_tiny_flux2_klein,
    "flux2": build_tiny_flux2,
    "qwen-image-2.1": build_tiny_qwen_image_21,
}
#: Every backbone kind with a tiny builder (the built-in backbones).
BACKBONE_KINDS: tuple[str, ...] = tuple(TINY_BUILDERS)


def build_tiny_pipeline(kind: str, seed: int = 0):
    """The tiny stock diffusers pipeline of one backbone kind (random weights from ``seed``)."""
    if kind not in TINY_BUILDERS:
        raise ValueError(f"unknown backbone {kind!r}; choose one of {', '.join(BACKBONE_KINDS)}")
    return TINY_BUILDERS[kind](seed)


def save_tiny_pipeline(kind: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny pipeline and ``save_pretrained`` it to ``out_dir``; returns ``out_dir``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: folder exists and is not empty")
    pipe = build_tiny_pipeline(kind, seed)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    return out_dir
