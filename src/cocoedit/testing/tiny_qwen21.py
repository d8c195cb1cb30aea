"""A tiny random ``QwenImage21Pipeline`` (Qwen-Image-2.1), built offline.

Kept to the real model's geometry where the pipeline depends on it:

* the VAE compresses 16x (five ``dim_mult`` levels), which ``QwenImage21Pipeline`` assumes, and
  reads and writes four channels (RGBA), as the real one;
* the vision-language image processor uses 16-pixel patches merged 2x2, so one image token covers
  32x32 pixels = 2x2 latent tokens, the slot the transformer substitutes latents into; its minimum
  area is lowered to 32² (the real Qwen3-VL processor's is 256²) so that 64² images are not upscaled;
* the processor is :class:`cocoedit.core.qwen_processor.Qwen3VLImageOnlyProcessor` (no torchvision),
  recorded in ``model_index.json`` by module path: the stock class reloads the folder whenever
  cocoedit is importable.
"""

from __future__ import annotations

import torch

from cocoedit.core.qwen_processor import Qwen3VLImageOnlyProcessor
from cocoedit.testing.tiny_text import CORPUS_2026, QWEN3_VL_CHAT_TEMPLATE, qwen2_tokenizer

TEXT_HIDDEN = 16
LATENT_CHANNELS = 8  # real: 64


def build_tiny_qwen_image_21(seed: int = 0):
    """A tiny random ``QwenImage21Pipeline`` (Qwen3-VL text encoder, 16x RGBA VAE, block-causal transformer)."""
    from diffusers import (
        AutoencoderKLQwenImage21,
        FlowMatchEulerDiscreteScheduler,
        QwenImage21Pipeline,
        QwenImage21Transformer2DModel,
    )
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    torch.manual_seed(seed)
    tokenizer = qwen2_tokenizer(corpus=CORPUS_2026)
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=16,
        merge_size=2,
        temporal_patch_size=2,
        min_pixels=32 * 32,
        max_pixels=1024 * 1024,
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )
    processor = Qwen3VLImageOnlyProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN3_VL_CHAT_TEMPLATE
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
    text_encoder = Qwen3VLForConditionalGeneration(
        Qwen3VLConfig(
            text_config={
                "vocab_size": len(tokenizer),
                "hidden_size": TEXT_HIDDEN,
                "intermediate_size": 16,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 2,
                "head_dim": 8,
                "rope_parameters": {
                    "rope_type": "default",
                    "rope_theta": 1e6,
                    "mrope_section": [1, 1, 2],
                    "mrope_interleaved": True,
                },
                "pad_token_id": tokenizer.pad_token_id,
                "eos_token_id": tokenizer.eos_token_id,
            },
            vision_config={
                "depth": 2,
                "hidden_size": 16,
                "intermediate_size": 16,
                "num_heads": 2,
                "patch_size": 16,
                "spatial_merge_size": 2,
                "temporal_patch_size": 2,
                "out_hidden_size": TEXT_HIDDEN,
                "num_position_embeddings": 64,
                "deepstack_visual_indexes": [1],
            },
            **token_ids,
        )
    )
    transformer = QwenImage21Transformer2DModel(
        patch_size=1,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        context_in_dim=TEXT_HIDDEN,
        mlp_ratio=2,
        axes_dims_rope=(4, 6, 6),  # (frame, height, width), summing to the head dim
    )
    vae = AutoencoderKLQwenImage21(
        base_dim=8,
        decoder_base_dim=8,
        z_dim=LATENT_CHANNELS,
        dim_mult=[1, 1, 1, 1, 1],  # four spatial halvings: 16x
        num_res_blocks=1,
        temperal_downsample=[False, True, True, True],
        latents_mean=[0.0] * LATENT_CHANNELS,
        latents_std=[1.0] * LATENT_CHANNELS,
    )
    for module in (transformer, vae, text_encoder):
        module.eval()
    # Qwen-Image's scheduler settings (dynamic exponential shift, mu from the target token count).
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=0.9,
        base_image_seq_len=256,
        max_image_seq_len=8192,
        shift_terminal=0.02,
        time_shift_type="exponential",
    )
    return QwenImage21Pipeline(
        scheduler=scheduler, vae=vae, text_encoder=text_encoder, processor=processor, transformer=transformer
    )
