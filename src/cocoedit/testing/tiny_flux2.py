"""Tiny random FLUX.2 pipelines (``Flux2KleinPipeline``, ``Flux2Pipeline``), built offline.

Both share the FLUX.2 parts: a ``Flux2Transformer2DModel`` with one double-stream and one
single-stream block, and an ``AutoencoderKLFlux2`` with FLUX.2's 8x compression and its batch-norm
latent statistics (random running mean and variance here, so that the normalisation is exercised;
a fresh batch norm would be the identity). They differ as the real ones do:

* **[klein]**: a Qwen3 causal LM as text encoder (28 layers: the pipeline's default hidden-state
  layers 9, 18 and 27 exist and, as in the real 36-layer encoder, none of them is the last, which
  transformers returns after the final norm), its chat template with the empty thinking block, no
  guidance embedding; ``is_distilled=False``, the base checkpoint (true CFG above guidance 1).
* **[dev]**: a Mistral3 (Mistral Small 3.1 layout) text encoder with 31 text layers (hidden states
  10, 20 and 30, none the last), the guidance embedding of a guidance-distilled model. The real checkpoint's tokenizer
  component is a Pixtral processor, which transformers cannot import without torchvision; the
  pipeline uses only its text path, so the tiny model saves a plain tokenizer with Mistral's special
  tokens and chat template in its place (the stock class loads it as saved).

Sizes: the transformer is 4·C = 32 channels per token (real: 128), text hidden 16 (×3 layers = 48
context features).
"""

from __future__ import annotations

import torch

from cocoedit.testing.tiny_text import mistral_tokenizer, qwen3_tokenizer

TEXT_HIDDEN = 16
LATENT_CHANNELS = 8  # real FLUX.2 VAE: 32


def _flux2_parts(guidance_embeds: bool):
    """The transformer, VAE and scheduler shared by the tiny FLUX.2 pipelines (seeded by the caller)."""
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2Transformer2DModel

    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=4 * LATENT_CHANNELS,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=3 * TEXT_HIDDEN,  # three stacked hidden-state layers
        timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4),  # (T, H, W, L), summing to the head dim
        guidance_embeds=guidance_embeds,
    )
    vae = AutoencoderKLFlux2(
        block_out_channels=(4, 4, 4, 4),  # 8x, as FLUX.2's VAE
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=1,
        sample_size=32,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    with torch.no_grad():
        vae.bn.running_mean.copy_(0.1 * torch.randn(vae.bn.running_mean.shape))
        vae.bn.running_var.copy_(0.5 + torch.rand(vae.bn.running_var.shape))
    # FLUX.2's scheduler: dynamic exponential shift; the pipelines pass mu (compute_empirical_mu).
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, time_shift_type="exponential", shift=3.0)
    return transformer, vae, scheduler


def build_tiny_flux2_klein(seed: int = 0):
    """A tiny random ``Flux2KleinPipeline`` (the base, non-distilled checkpoint's conventions)."""
    from diffusers import Flux2KleinPipeline
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    tokenizer = qwen3_tokenizer()
    text_encoder = Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=TEXT_HIDDEN,
            intermediate_size=16,
            num_hidden_layers=28,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )
    transformer, vae, scheduler = _flux2_parts(guidance_embeds=False)
    for module in (transformer, vae, text_encoder):
        module.eval()
    return Flux2KleinPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=False,
    )


def build_tiny_flux2(seed: int = 0):
    """A tiny random ``Flux2Pipeline`` (FLUX.2 [dev]: Mistral3 text encoder, guidance embedding)."""
    from diffusers import Flux2Pipeline
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    torch.manual_seed(seed)
    tokenizer = mistral_tokenizer()
    text_encoder = Mistral3ForConditionalGeneration(
        Mistral3Config(
            text_config={
                "model_type": "mistral",
                "vocab_size": len(tokenizer),
                "hidden_size": TEXT_HIDDEN,
                "intermediate_size": 16,
                "num_hidden_layers": 31,
                "num_attention_heads": 2,
                "num_key_value_heads": 2,
                "head_dim": 8,
                "pad_token_id": tokenizer.pad_token_id,
                "bos_token_id": tokenizer.bos_token_id,
                "eos_token_id": tokenizer.eos_token_id,
            },
            vision_config={
                "model_type": "pixtral",
                "hidden_size": 16,
                "intermediate_size": 16,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "image_size": 64,
                "patch_size": 16,
            },
            image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"),
        )
    )
    transformer, vae, scheduler = _flux2_parts(guidance_embeds=True)
    for module in (transformer, vae, text_encoder):
        module.eval()
    return Flux2Pipeline(
        scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer
    )
