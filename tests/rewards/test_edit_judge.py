"""The programmatic edit judge: full marks for the target, none for no edit, blind to the keep region."""

import math

import numpy as np
import pytest
import torch

from cocoedit.data.synthetic import make_sample
from cocoedit.rewards.edit_judge import edit_success


def batch(n=4):
    rng = np.random.default_rng(0)
    samples = [make_sample(32, rng, t) for t in ("recolor", "remove", "add", "replace")[:n]]
    to = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    return (
        to([s.source for s in samples]),
        to([s.target for s in samples]),
        torch.from_numpy(np.stack([s.edit_mask for s in samples]))[:, None].float(),
    )


def test_known_good_and_bad_edits():
    source, target, mask = batch()
    assert edit_success(target, source, target, mask).scores.tolist() == pytest.approx([1.0] * 4)
    assert edit_success(source, source, target, mask).scores.tolist() == pytest.approx([0.0] * 4)
    halfway = 0.5 * source + 0.5 * target
    assert edit_success(halfway, source, target, mask).scores.tolist() == pytest.approx([0.5] * 4, abs=1e-5)
    wrong = 1 - target  # a change, but not the asked one: no closer than the source
    assert (edit_success(wrong, source, target, mask).scores < 0.5).all()


def test_blind_to_the_keep_region():
    source, target, mask = batch()
    drifted = torch.where(mask.bool(), target, torch.rand_like(target))
    assert edit_success(drifted, source, target, mask).scores.tolist() == pytest.approx([1.0] * 4)


def test_empty_edit_region_is_invalid_not_scored():
    source, target, mask = batch(2)
    mask[1] = 0
    out = edit_success(target, source, target, mask)
    assert out.valid.tolist() == [True, False] and math.isnan(out.scores[1].item())
