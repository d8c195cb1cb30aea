"""Tiny random-weight editing pipelines, built offline, for tests, benchmarks and the CPU demo.

Every component is built from a config written here (sizes after the diffusers test suites) and
every tokenizer is trained in-process on a small corpus, so nothing touches the model hub. The
result is the stock diffusers pipeline class (``FluxKontextPipeline``, ``QwenImageEditPipeline``,
``QwenImageEditPlusPipeline``); :func:`save_tiny_pipeline` writes it with ``save_pretrained`` and
the same class reloads it with ``from_pretrained(dir, local_files_only=True)``.

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

import json
import math
import re
import string
from pathlib import Path
from typing import Literal

import torch

from cocoedit.core.qwen_processor import Qwen2VLImageOnlyProcessor

BackboneKind = Literal["kontext", "qwen-image-edit", "qwen-image-edit-plus"]
BACKBONE_KINDS: tuple[str, ...] = ("kontext", "qwen-image-edit", "qwen-image-edit-plus")

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# The Qwen edit system prompt is in the corpus so that its tokenisation has the real length (64).
_QWEN_SYSTEM_PROMPT = (
    "Describe the key features of the input image (color, shape, size, texture, objects, background), "
    "then explain how the user's text instruction should alter or modify the image. Generate a new "
    "image that meets the user's requirements while maintaining consistency with the original input "
    "where appropriate."
)
_CORPUS = [
    "make the sky blue",
    "turn the cat into a dog",
    "remove the car from the street",
    "add a red hat to the person",
    "change the background to a beach at sunset",
    "replace the apple with an orange",
    "make the coffee cup green",
    "put sunglasses on the astronaut",
    "Picture 1: describe the image",
    _QWEN_SYSTEM_PROMPT,
    "system\nuser\nassistant\n system user assistant",
] * 4


def _corpus_words() -> list[str]:
    """The corpus's lowercase words (letters only), sorted."""
    return sorted({w for line in _CORPUS for w in re.findall(r"[a-z]+", line.lower())})


def _clip_tokenizer():
    """A CLIP (byte-level BPE, ``</w>`` word ends) tokenizer whose merges spell the corpus words.

    Vocabulary and merges are written out rather than trained (the BPE trainer breaks ties
    differently from run to run), so two builds tokenise identically. Unknown words fall back to
    single bytes.
    """
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for token in alphabet + [c + "</w>" for c in alphabet]:
        vocab[token] = len(vocab)
    merges: list[tuple[str, str]] = []
    for word in _corpus_words():
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        left = pieces[0]
        for right in pieces[1:]:
            merged = left + right
            if merged not in vocab:
                vocab[merged] = len(vocab)
                merges.append((left, right))
            left = merged
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def _t5_tokenizer():
    """A T5 (Unigram) tokenizer over the corpus's words and characters.

    The vocabulary is written out rather than trained: tokenizers' Unigram trainer is
    multi-threaded and not reproducible, and two builds must tokenise identically.
    """
    from collections import Counter

    from transformers import T5Tokenizer

    words = Counter(w for line in _CORPUS for w in line.split())
    chars = sorted(
        {c for w in words for c in w} | set(string.ascii_letters + string.digits + string.punctuation) | {"▁"}
    )
    total = sum(words.values())
    # pad = 0, eos = 1, unk = 2, as in T5; whole words score higher than spelling them out.
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("▁" + w, math.log(n / total)) for w, n in sorted(words.items())]
    vocab += [(c, -20.0) for c in chars]
    return T5Tokenizer(vocab=vocab, extra_ids=100, model_max_length=512)


def _qwen2_tokenizer(vocab_size: int = 1000):
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(QWEN_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer)
    model = json.loads(tok.to_str())["model"]
    return Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=[tuple(m) for m in model["merges"]],
        model_max_length=32768,
        additional_special_tokens=list(QWEN_SPECIAL_TOKENS[1:]),
    )


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
    tokenizer = _clip_tokenizer()
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
    tokenizer_2 = _t5_tokenizer()
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


def _build_tiny_qwen(pipeline_cls, seed: int):
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageTransformer2DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    torch.manual_seed(seed)
    tokenizer = _qwen2_tokenizer()
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


def build_tiny_qwen_image_edit_plus(seed: int = 0):
    """A tiny random ``QwenImageEditPlusPipeline`` (Qwen-Image-Edit-2509 conventions)."""
    from diffusers import QwenImageEditPlusPipeline

    return _build_tiny_qwen(QwenImageEditPlusPipeline, seed)


TINY_BUILDERS = {
    "kontext": build_tiny_kontext,
    "qwen-image-edit": build_tiny_qwen_image_edit,
    "qwen-image-edit-plus": build_tiny_qwen_image_edit_plus,
}


def build_tiny_pipeline(kind: BackboneKind, seed: int = 0):
    """The tiny stock diffusers pipeline of one backbone kind (random weights from ``seed``)."""
    if kind not in TINY_BUILDERS:
        raise ValueError(f"unknown backbone {kind!r}; choose one of {', '.join(BACKBONE_KINDS)}")
    return TINY_BUILDERS[kind](seed)


def save_tiny_pipeline(kind: BackboneKind, out_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny pipeline and ``save_pretrained`` it to ``out_dir``; returns ``out_dir``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: folder exists and is not empty")
    pipe = build_tiny_pipeline(kind, seed)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    return out_dir
