"""Mask augmentation by edit type: dilation radius, box expansion, type aliases."""

import pytest
import torch
from pydantic import ValidationError

from cocoedit.curation.augment import AugmentConfig, AugmentRule, augment_mask


def _dot(h=20, w=30, y=10, x=10):
    m = torch.zeros(1, 1, h, w)
    m[0, 0, y, x] = 1
    return m


def test_dilation_radius_in_pixels_and_fraction_of_the_short_side():
    rule = AugmentRule(dilate_px=1, dilate_fraction=0.1)  # 1 + round(0.1 * 20) = 3
    assert rule.radius((20, 30)) == 3
    out = augment_mask(_dot(), rule)
    assert out.sum() == 7 * 7 and out[0, 0, 7:14, 7:14].all()


def test_box_then_dilate():
    m = torch.zeros(1, 1, 20, 30)
    m[0, 0, 5, 5] = m[0, 0, 8, 10] = 1  # two separate pixels
    m[0, 0, 5:9, 5] = 1  # join the first into a vertical bar: component box 5:9 x 5:6
    out = augment_mask(m, AugmentRule(box=True))
    assert out.sum() == 4 + 1
    out = augment_mask(m, AugmentRule(box=True, box_expand=0.5, dilate_px=1))
    # bar box (4 x 1) grows by ceil(2)=2 rows, ceil(0.5)=1 column -> rows 3:11, cols 4:7; dilated by 1
    assert out[0, 0, 2:12, 3:8].all() and out[0, 0, 1].sum() == 0 and out[0, 0, 12].sum() == 0


def test_rules_by_type_with_aliases_and_default():
    cfg = AugmentConfig(
        default=AugmentRule(), by_type={"replace": AugmentRule(dilate_px=2)}, aliases={"subject-replace": "replace"}
    )
    assert cfg.rule_for("Subject-Replace").dilate_px == 2
    assert cfg.rule_for("replace").dilate_px == 2
    assert cfg.rule_for("color") == cfg.default
    assert cfg.rule_for(None) == cfg.default
    assert torch.equal(augment_mask(_dot(), cfg.rule_for("color")), _dot())


def test_rules_refuse_bad_values():
    with pytest.raises(ValidationError):
        AugmentRule(dilate_px=-1)
    with pytest.raises(ValidationError):
        AugmentRule(dilat_px=3)
