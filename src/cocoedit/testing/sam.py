"""A tiny random-weight SAM checkpoint for plumbing tests of :mod:`cocoedit.curation.segment`."""

from __future__ import annotations

from pathlib import Path

import torch


def save_tiny_sam(out_dir: str | Path, seed: int = 0, image_size: int = 64) -> Path:
    """Write a tiny random-weight SAM checkpoint (model + processor) that :class:`SamSegmenter`
    loads offline: for plumbing tests and dry runs, its masks mean nothing."""
    from transformers import SamConfig, SamImageProcessorPil, SamModel, SamProcessor

    hidden = 32
    config = SamConfig(
        vision_config={
            "hidden_size": hidden,
            "output_channels": hidden,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": image_size,
            "patch_size": 16,
            "window_size": 2,
            "global_attn_indexes": [1],
            "mlp_dim": 64,
            "num_pos_feats": hidden // 2,
        },
        prompt_encoder_config={
            "hidden_size": hidden,
            "image_size": image_size,
            "patch_size": 16,
            "mask_input_channels": 4,
        },
        mask_decoder_config={
            "hidden_size": hidden,
            "mlp_dim": 64,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": hidden,
        },
    )
    torch.manual_seed(seed)
    model = SamModel(config).eval()
    # the PIL image processor: the default one needs torchvision, which must not be installed here
    processor = SamProcessor(
        SamImageProcessorPil(size={"longest_edge": image_size}, pad_size={"height": image_size, "width": image_size})
    )
    out = Path(out_dir)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
