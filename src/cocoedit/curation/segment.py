"""Boxes -> masks with SAM or SAM 2 through transformers (local checkpoints only; optional).

CoCoEdit-40K's masks were made by SAM 2 from VLM boxes (method.md §f.1). ``transformers``
ships both model families (``SamModel`` / ``Sam2Model`` with their processors); the checkpoint
folder's ``config.json`` says which one it is. Nothing is downloaded: the folder must exist
(e.g. ``hf download facebook/sam2.1-hiera-large --local-dir ...`` done beforehand).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cocoedit.core.errors import CocoEditError


class SegmenterError(CocoEditError):
    """The segmentation checkpoint cannot be used; the message names the folder."""


class SamSegmenter:
    """``segmenter(image, boxes)``: the union of SAM's masks for pixel boxes ``[N, 4]``
    ``(y0, x0, y1, x1)`` (ends exclusive) on a PIL image, as a ``[1, 1, H, W]`` float edit mask.

    Calls are serialised by a lock: the build calls it from worker threads, and one model copy
    on one device gains nothing from concurrent forward passes.
    """

    def __init__(self, path: str | Path, device: str = "cpu"):
        path = Path(path)
        config_file = path / "config.json"
        if not config_file.is_file():
            raise SegmenterError(f"{path}: not a local SAM / SAM 2 checkpoint folder (no config.json)")
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type", "")
        if model_type.startswith("sam2"):
            from transformers import Sam2Model as model_cls
            from transformers import Sam2Processor as processor_cls
        elif model_type == "sam":
            from transformers import SamModel as model_cls
            from transformers import SamProcessor as processor_cls
        else:
            raise SegmenterError(f"{config_file}: model_type {model_type!r} is neither 'sam' nor 'sam2*'")
        self.is_sam2 = model_type.startswith("sam2")
        try:
            self.processor = processor_cls.from_pretrained(path, local_files_only=True)
            self.model = model_cls.from_pretrained(path, local_files_only=True).to(device).eval()
        except OSError as e:
            raise SegmenterError(f"{path}: cannot load the checkpoint ({e})") from None
        self.device = device
        self._lock = threading.Lock()

    @torch.no_grad()
    def __call__(self, image: Image.Image, boxes: torch.Tensor) -> torch.Tensor:
        h, w = image.height, image.width
        if boxes.numel() == 0:
            return torch.zeros(1, 1, h, w)
        # SAM takes boxes as [x0, y0, x1, y1] in pixels of the original image
        xyxy = [[float(b[1]), float(b[0]), float(b[3]), float(b[2])] for b in boxes.tolist()]
        with self._lock:
            inputs = self.processor(images=image.convert("RGB"), input_boxes=[xyxy], return_tensors="pt")
            model_inputs = {k: v.to(self.device) for k, v in inputs.items() if k in ("pixel_values", "input_boxes")}
            out = self.model(**model_inputs, multimask_output=False)
            if self.is_sam2:
                masks = self.processor.post_process_masks(out.pred_masks.cpu(), inputs["original_sizes"])
            else:
                masks = self.processor.post_process_masks(
                    out.pred_masks.cpu(), inputs["original_sizes"], inputs["reshaped_input_sizes"]
                )
        union = torch.as_tensor(np.asarray(masks[0])).reshape(-1, h, w).any(dim=0)
        return union[None, None].float()
