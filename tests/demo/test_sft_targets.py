"""The SFT training targets of the demo editor: the partial edits that make its output depend on
the initial noise (``base.partial_edit_probability`` / ``partial_edit_min``)."""

from dataclasses import replace

import pytest
import torch

from cocoedit.demo.sft import SFTConfig, partial_edit, training_targets


def _batch(n: int = 400):
    gen = torch.Generator().manual_seed(0)
    source, target = torch.rand(n, 3, 8, 8, generator=gen), torch.rand(n, 3, 8, 8, generator=gen)
    mask = torch.zeros(n, 1, 8, 8)
    mask[..., :, :4] = 1.0  # left half: the edit region
    return source, target, mask


def _strength(out, source, target, mask):
    """Per image, the a of ``source + a (target - source)`` on the edit region (least squares)."""
    d, o = (target - source) * mask, (out - source) * mask
    return (d * o).sum(dim=(1, 2, 3)) / d.square().sum(dim=(1, 2, 3))


def test_partial_edit_scales_the_edit_and_leaves_the_keep_region():
    source, target, mask = _batch()
    out = partial_edit(target, source, mask, 0.4, torch.Generator().manual_seed(1))
    assert torch.equal(out * (1 - mask), target * (1 - mask))  # keep region untouched
    a = _strength(out, source, target, mask)
    expected = source + a[:, None, None, None] * (target - source)
    assert torch.allclose(out * mask, expected * mask, atol=1e-6)  # one a per image, on every pixel
    assert a.min() >= 0.4 - 1e-6 and a.max() <= 1 + 1e-6
    assert a.min() < 0.45 and a.max() > 0.95  # spread over [min, 1]


def test_the_probability_picks_the_share_of_partial_targets():
    source, target, mask = _batch()
    config = SFTConfig(drift_probability=0.0, partial_edit_min=0.4)

    def partial_share(probability: float) -> float:
        out = training_targets(
            target, source, mask, replace(config, partial_edit_probability=probability), torch.Generator()
        )
        assert torch.equal(out * (1 - mask), target * (1 - mask))
        return (_strength(out, source, target, mask) < 1 - 1e-4).float().mean().item()

    assert torch.equal(
        training_targets(
            target, source, mask, replace(config, partial_edit_probability=0.0), torch.Generator().manual_seed(2)
        ),
        target,
    )
    assert partial_share(1.0) == 1.0
    assert partial_share(0.5) == pytest.approx(0.5, abs=0.08)


def test_a_partial_edit_of_strength_one_is_the_full_edit():
    source, target, mask = _batch(4)
    assert torch.allclose(partial_edit(target, source, mask, 1.0, torch.Generator()), target)
