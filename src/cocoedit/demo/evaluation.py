"""Scoring an editor on the demo's held-out test pairs: edit success (the edit judge) and
keep-region PSNR/SSIM, from the same initial noise for the base editor and every arm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from cocoedit.data.manifest import read_manifest
from cocoedit.data.rows import TrainingRow, prepare_row
from cocoedit.models.backbone import EditBackbone


@dataclass(frozen=True)
class EditorScores:
    """Per test sample: ``edit_success``, ``keep_psnr`` (dB), ``keep_ssim`` ``[N]`` and the edited
    images ``[N, 3, H, W]``."""

    edit_success: torch.Tensor
    keep_psnr: torch.Tensor
    keep_ssim: torch.Tensor
    images: torch.Tensor

    def means(self) -> dict[str, float]:
        return {k: float(getattr(self, k).nanmean()) for k in ("edit_success", "keep_psnr", "keep_ssim")}


def evaluation_generators(seed: int, count: int) -> list[torch.Generator]:
    """Initial-noise generators of the test samples: the same for the base and every arm."""
    return [torch.Generator().manual_seed(1_000_003 * seed + i) for i in range(count)]


def evaluate_editor(
    backbone: EditBackbone,
    rows: Sequence[TrainingRow],
    size: int,
    sampler: str,
    steps: int,
    seed: int,
    batch_size: int = 16,
) -> EditorScores:
    """Edit ``rows`` with the backbone as it is (active adapter or none) and score each output."""
    from cocoedit.core.metrics import keep_region_metrics
    from cocoedit.models.generate import sample_latents
    from cocoedit.rewards.edit_judge import edit_success

    gens = evaluation_generators(seed, len(rows))
    images = []
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            part = rows[i : i + batch_size]
            cond = backbone.encode_condition(
                [r.sample.instruction for r in part], torch.stack([r.source for r in part]), size, size
            )
            latents = sample_latents(backbone, cond, steps, sampler, gens[i : i + batch_size]).sample
            images.append(backbone.decode(latents, size, size).float().cpu())
    edited = torch.cat(images)
    sources = torch.stack([r.source for r in rows])
    masks = torch.stack([r.edit_mask for r in rows])
    judged = edit_success(edited, sources, torch.stack([r.target for r in rows]), masks)
    keep = keep_region_metrics(edited, sources, masks)
    return EditorScores(judged.scores, keep.psnr, keep.ssim, edited)


def save_scores(scores: EditorScores, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "edit_success": scores.edit_success,
            "keep_psnr": scores.keep_psnr,
            "keep_ssim": scores.keep_ssim,
            "images": scores.images,
        },
        path,
    )


def load_scores(path: str | Path) -> EditorScores:
    return EditorScores(**torch.load(path, weights_only=True))


def held_out_rows(data_dir: Path, size: int) -> list[TrainingRow]:
    return [prepare_row(s, size, size) for s in read_manifest(data_dir / "test" / "manifest.jsonl")]
