"""Mask augmentation by edit type: dilation and box expansion, configured per type.

Why: an edit that replaces, adds or moves an object generates content beyond the old object's
outline (a bigger replacement, the object's new position, its shadow), so the keep region of a
tight mask would penalise the very pixels the edit must change. The CoCoEdit data dilates masks
for such edits (method.md §f.1; the radius is not published, so it is a setting here).

Masks are float ``[B, 1, H, W]``, 1 = edit (:mod:`cocoedit.core.masks`).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from cocoedit.core.masks import dilate
from cocoedit.curation.annotate import fill_component_boxes


class AugmentRule(BaseModel):
    """What to do to the mask of one edit type. Applied in this order: ``box`` (each component
    becomes its bounding box grown by ``box_expand`` of its size per side), then dilation by
    ``dilate_px + round(dilate_fraction * min(H, W))`` pixels (a square element)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    box: bool = False
    box_expand: float = Field(0.0, ge=0)
    dilate_px: int = Field(0, ge=0)
    dilate_fraction: float = Field(0.0, ge=0, le=0.5)

    def radius(self, size: tuple[int, int]) -> int:
        return self.dilate_px + round(self.dilate_fraction * min(size))


class AugmentConfig(BaseModel):
    """``by_type`` maps an edit type (after ``aliases`` and lower-casing) to its rule; every other
    type, and samples without a type, get ``default``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    default: AugmentRule = AugmentRule()
    by_type: dict[str, AugmentRule] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)

    def canonical_type(self, edit_type: str | None) -> str | None:
        if edit_type is None:
            return None
        key = edit_type.strip().lower()
        return self.aliases.get(key, key)

    def rule_for(self, edit_type: str | None) -> AugmentRule:
        return self.by_type.get(self.canonical_type(edit_type) or "", self.default)


def augment_mask(mask: torch.Tensor, rule: AugmentRule) -> torch.Tensor:
    """Apply one rule to ``[B, 1, H, W]`` edit masks (see :class:`AugmentRule` for the order)."""
    out = mask
    if rule.box:
        out = fill_component_boxes(out, rule.box_expand)
    radius = rule.radius(tuple(mask.shape[-2:]))
    return dilate(out, radius) if radius else out.clone()
