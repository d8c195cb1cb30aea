"""Full-size random-weight editors from the published configs, for ``bench_trainer_gpu.py``.

Each builder takes the tiny pipeline of its kind (``cocoedit.testing.tiny``) and returns the same
pipeline class with the transformer, text encoder(s) and VAE replaced by modules of the published
sizes, built directly on ``device`` in ``dtype`` (bf16 on a GPU; ``meta`` for counting parameters
without memory). The tiny tokenizers and processors stay: their token ids are valid for the full
vocabularies. Values that only matter for trained weights (VAE latent statistics) are neutral.

Published sizes (parameters; tests/benchmarks/test_bench_trainer_gpu.py checks them on ``meta``):

============================  =========================  ==========================================
editor                        transformer                text encoder
============================  =========================  ==========================================
FLUX.1 Kontext [dev]          11.90 B                    T5-XXL encoder 4.76 B + CLIP-L 0.12 B
Qwen-Image-Edit(-2509/2511)   20.43 B                    Qwen2.5-VL-7B 8.29 B
FLUX.2 [klein] 4B             3.88 B                     Qwen3-4B 4.02 B
FLUX.2 [dev]                  32.22 B                    Mistral Small 3.1 24.0 B (cut on 80 GB GPUs)
Qwen-Image-2.1                7.12 B                     Qwen3-VL-8B 8.77 B
============================  =========================  ==========================================

FLUX.2 [dev]'s 32 B transformer (60 GiB in bf16) and its 24 B text encoder (45 GiB) do not fit one
80 GB GPU together. On a GPU with less than :data:`FULL_MISTRAL_MIN_GIB` the builder makes the
text encoder with Mistral Small 3.1's layout where it matters to the transformer (hidden size 5120,
the 31 layers whose hidden states 10, 20 and 30 the pipeline stacks, full attention) but MLPs 1024
wide instead of 32768, a one-layer vision tower and tied embeddings: 2.8 B parameters. The text
encoder runs once per prompt and the benchmark neither times nor counts it apart, so this changes
the step's time by well under a per cent and its peak memory by the difference in weights, which
the results report (``text_encoder_params``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from bench_backbone import KONTEXT_DEV, QWEN_IMAGE

CLIP_L_TEXT = dict(
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    vocab_size=49408,
    projection_dim=768,
    hidden_act="quick_gelu",
)
T5_XXL_ENCODER = dict(
    vocab_size=32128,
    d_model=4096,
    d_kv=64,
    d_ff=10240,
    num_layers=24,
    num_heads=64,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu",
    layer_norm_epsilon=1e-6,
    dropout_rate=0.0,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
    tie_word_embeddings=False,
)
FLUX_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=16,
    norm_num_groups=32,
    sample_size=1024,
    scaling_factor=0.3611,
    shift_factor=0.1159,
    use_quant_conv=False,
    use_post_quant_conv=False,
)
QWEN_VAE = dict(
    base_dim=96,
    z_dim=16,
    dim_mult=[1, 2, 4, 4],
    num_res_blocks=2,
    attn_scales=[],
    temperal_downsample=[False, True, True],
    latents_mean=[0.0] * 16,
    latents_std=[1.0] * 16,
)
QWEN25_VL_7B_TEXT = dict(
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    max_position_embeddings=128000,
    rms_norm_eps=1e-6,
    rope_theta=1e6,
    rope_scaling={"mrope_section": [16, 24, 24], "rope_type": "default", "type": "default"},
    vocab_size=152064,
    tie_word_embeddings=False,
)
QWEN25_VL_7B_VISION = dict(
    depth=32,
    hidden_size=1280,
    intermediate_size=3420,
    num_heads=16,
    out_hidden_size=3584,
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
    window_size=112,
    fullatt_block_indexes=[7, 15, 23, 31],
)
# FLUX.2 [klein] 4B: 5 double- and 20 single-stream blocks, 24 heads of 128; the context is three
# stacked Qwen3-4B hidden states (3 x 2560). Without a guidance embedding (the base checkpoint).
FLUX2_KLEIN_4B = dict(
    in_channels=128,
    num_layers=5,
    num_single_layers=20,
    num_attention_heads=24,
    attention_head_dim=128,
    joint_attention_dim=7680,
    guidance_embeds=False,
)
QWEN3_4B = dict(
    hidden_size=2560,
    intermediate_size=9728,
    num_hidden_layers=36,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=40960,
    rms_norm_eps=1e-6,
    rope_theta=1e6,
    vocab_size=151936,
    tie_word_embeddings=True,
)
MISTRAL_SMALL_31_TEXT = dict(
    model_type="mistral",
    hidden_size=5120,
    intermediate_size=32768,
    num_hidden_layers=40,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=131072,
    rms_norm_eps=1e-5,
    rope_theta=1e9,
    vocab_size=131072,
)
PIXTRAL_VISION = dict(
    model_type="pixtral",
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    head_dim=64,
    image_size=1540,
    patch_size=14,
)
# The cut Mistral of the module doc: what the transformer reads kept, the rest made small.
MISTRAL_CUT = dict(num_hidden_layers=31, intermediate_size=1024)
FULL_MISTRAL_MIN_GIB = 120
QWEN3_VL_8B_TEXT = dict(
    hidden_size=4096,
    intermediate_size=12288,
    num_hidden_layers=36,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=262144,
    rms_norm_eps=1e-6,
    rope_parameters={
        "rope_type": "default",
        "rope_theta": 5e6,
        "mrope_section": [24, 20, 20],
        "mrope_interleaved": True,
    },
    vocab_size=151936,
)
QWEN3_VL_8B_VISION = dict(
    depth=27,
    hidden_size=1152,
    intermediate_size=4304,
    num_heads=16,
    out_hidden_size=4096,
    patch_size=16,
    spatial_merge_size=2,
    temporal_patch_size=2,
    num_position_embeddings=2304,
    deepstack_visual_indexes=[8, 16, 24],
)


@contextmanager
def building(device: str | torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Modules made inside are made on ``device`` in ``dtype`` (no float32 copy first: a 20 B
    transformer in float32 would not fit an 80 GB GPU)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def _token_ids(config, *names: str) -> dict:
    return {k: getattr(config, k) for k in names}


def full_size_kontext(tiny, device="cuda", dtype=torch.bfloat16):
    """FLUX.1 Kontext [dev]: 11.9 B transformer, T5-XXL encoder, CLIP-L text model, FLUX VAE."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    ids = _token_ids(tiny.text_encoder.config, "bos_token_id", "eos_token_id", "pad_token_id")
    with building(device, dtype):
        parts = {
            "transformer": FluxTransformer2DModel(**KONTEXT_DEV),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**CLIP_L_TEXT, **ids)),
            "text_encoder_2": T5EncoderModel(T5Config(**T5_XXL_ENCODER)),
            "vae": AutoencoderKL(**FLUX_VAE),
        }
    return type(tiny)(**{**tiny.components, **parts})


def full_size_qwen(tiny, device="cuda", dtype=torch.bfloat16):
    """Qwen-Image-Edit(-2509): 20.4 B transformer, Qwen2.5-VL-7B text encoder, Qwen-Image VAE."""
    from diffusers import AutoencoderKLQwenImage, QwenImageTransformer2DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tiny_config = tiny.text_encoder.config
    ids = _token_ids(tiny_config, "image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    text = {
        **QWEN25_VL_7B_TEXT,
        "eos_token_id": tiny_config.text_config.eos_token_id,
        "pad_token_id": tiny_config.text_config.pad_token_id,
        "bos_token_id": None,
    }
    config = Qwen2_5_VLConfig(
        text_config=text, vision_config=QWEN25_VL_7B_VISION, hidden_size=3584, vocab_size=152064, **ids
    )
    with building(device, dtype):
        parts = {
            "transformer": QwenImageTransformer2DModel(**QWEN_IMAGE),
            "text_encoder": Qwen2_5_VLForConditionalGeneration(config),
            "vae": AutoencoderKLQwenImage(**QWEN_VAE),
        }
    return type(tiny)(**{**tiny.components, **parts})


def full_size_flux2_klein(tiny, device="cuda", dtype=torch.bfloat16):
    """FLUX.2 [klein] 4B base: 3.88 B transformer, Qwen3-4B text encoder, FLUX.2 VAE (diffusers'
    defaults are its config)."""
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    ids = _token_ids(tiny.text_encoder.config, "eos_token_id", "pad_token_id")
    with building(device, dtype):
        parts = {
            "transformer": Flux2Transformer2DModel(**FLUX2_KLEIN_4B),
            "text_encoder": Qwen3ForCausalLM(Qwen3Config(**QWEN3_4B, **ids)),
            "vae": AutoencoderKLFlux2(),
        }
    return type(tiny)(**{**tiny.components, **parts})


def mistral_fits(device) -> bool:
    """Whether the published 24 B Mistral fits beside the 32 B transformer (see the module doc):
    on a CUDA device with at least :data:`FULL_MISTRAL_MIN_GIB`; always elsewhere (``meta``)."""
    device = torch.device(device)
    if device.type != "cuda":
        return True
    return torch.cuda.get_device_properties(device).total_memory >= FULL_MISTRAL_MIN_GIB * 2**30


def full_size_flux2(tiny, device="cuda", dtype=torch.bfloat16, published_text_encoder: bool | None = None):
    """FLUX.2 [dev]: 32.2 B transformer (diffusers' defaults are its config), Mistral Small 3.1
    text encoder (24.0 B, or the cut one: ``published_text_encoder`` None decides by
    :func:`mistral_fits`), FLUX.2 VAE."""
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    if published_text_encoder is None:
        published_text_encoder = mistral_fits(device)
    tiny_config = tiny.text_encoder.config
    ids = _token_ids(tiny_config.text_config, "bos_token_id", "eos_token_id", "pad_token_id")
    text = {**MISTRAL_SMALL_31_TEXT, **ids}
    vision = dict(PIXTRAL_VISION)
    if not published_text_encoder:
        text.update(MISTRAL_CUT)
        vision["num_hidden_layers"] = 1
    config = Mistral3Config(
        text_config=text,
        vision_config=vision,
        image_token_index=tiny_config.image_token_index,
        tie_word_embeddings=not published_text_encoder,
    )
    with building(device, dtype):
        parts = {
            "transformer": Flux2Transformer2DModel(),
            "text_encoder": Mistral3ForConditionalGeneration(config),
            "vae": AutoencoderKLFlux2(),
        }
    return type(tiny)(**{**tiny.components, **parts})


def full_size_qwen_image_21(tiny, device="cuda", dtype=torch.bfloat16):
    """Qwen-Image-2.1: 7.12 B single-stream transformer and 16x RGBA VAE (diffusers' defaults are
    their configs), Qwen3-VL-8B text encoder."""
    from diffusers import AutoencoderKLQwenImage21, QwenImage21Transformer2DModel
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    tiny_config = tiny.text_encoder.config
    ids = _token_ids(tiny_config, "image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    text = {**QWEN3_VL_8B_TEXT, **_token_ids(tiny_config.text_config, "eos_token_id", "pad_token_id")}
    config = Qwen3VLConfig(text_config=text, vision_config=QWEN3_VL_8B_VISION, tie_word_embeddings=False, **ids)
    with building(device, dtype):
        parts = {
            "transformer": QwenImage21Transformer2DModel(),
            "text_encoder": Qwen3VLForConditionalGeneration(config),
            "vae": AutoencoderKLQwenImage21(),
        }
    return type(tiny)(**{**tiny.components, **parts})
