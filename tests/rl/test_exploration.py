"""Localized initial noise: a group's samples share the keep region's noise and differ on the edit
region, by the configured scale; every element stays standard normal. Checked on the pure function
and on the trainer's rollouts (a zero velocity returns the initial noise as the sample)."""

import pytest
import torch

from cocoedit.core.masks import latent_grid_mask
from cocoedit.rl.distributed import ProcessGroup
from cocoedit.rl.exploration import localized_noise
from cocoedit.rl.rollouts import Rollouts


def test_localized_noise_by_hand_and_its_statistics():
    gen = torch.Generator().manual_seed(0)
    own, shared = torch.randn(2, 20000, generator=gen), torch.randn(2, 20000, generator=gen)
    edit = torch.zeros(1, 20000)
    edit[:, :10000] = 1
    out = localized_noise(own, shared, edit, scale=0.6)
    assert torch.equal(out[:, 10000:], shared[:, 10000:])  # keep region: the group's noise
    assert torch.allclose(out[:, :10000], 0.8 * shared[:, :10000] + 0.6 * own[:, :10000])
    assert out[:, :10000].std().item() == pytest.approx(1.0, abs=0.02)  # still standard normal
    assert torch.equal(localized_noise(own, shared, edit, scale=0.0), shared)
    assert torch.equal(localized_noise(own, shared, edit, scale=1.0)[:, :10000], own[:, :10000])
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        localized_noise(own, shared, edit, scale=1.5)


def _rollout_noise(make_backbone, make_config, train_samples, **sampling):
    backbone = make_backbone("kontext")
    config = make_config(sampling={"sampler": "euler", **sampling})
    rollouts = Rollouts(config, backbone, train_samples, [], {}, ProcessGroup())
    row = 0
    clean, _ = rollouts.rollout([row] * 3, [0, 1, 2], 0, lambda x, sigma, cond: torch.zeros_like(x))
    edit = rollouts.packed_edit_mask([row])[0].bool()
    return clean, edit, rollouts, backbone


def test_rollouts_share_the_keep_noise_within_a_group(make_backbone, make_config, train_samples):
    clean, edit, rollouts, backbone = _rollout_noise(
        make_backbone, make_config, train_samples, initial_noise="localized", edit_noise_scale=1.0
    )
    assert 0 < edit.float().mean() < 1
    keep = ~edit
    assert torch.equal(clean[0][keep], clean[1][keep]) and torch.equal(clean[0][keep], clean[2][keep])
    assert not torch.allclose(clean[0][edit], clean[1][edit])
    # The packed mask is the latent-grid edit mask in the latents' layout.
    grid = latent_grid_mask(rollouts.row(0).edit_mask[None], backbone.latent_grid(64, 64))
    assert torch.equal(backbone.unpack(edit[None].float(), 64, 64)[0, 0], grid[0, 0])
    independent, *_ = _rollout_noise(make_backbone, make_config, train_samples)
    assert not torch.allclose(independent[0][keep], independent[1][keep])


def test_edit_noise_scale_sets_the_groups_spread_on_the_edit_region(make_backbone, make_config, train_samples):
    runs = {
        s: _rollout_noise(make_backbone, make_config, train_samples, initial_noise="localized", edit_noise_scale=s)
        for s in (0.0, 0.6, 1.0)
    }
    zero, edit = runs[0.0][0], runs[0.0][1]
    # Scale 0: the group's samples start from the very same noise, on the edit region too.
    assert torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])
    # Otherwise two samples differ on the edit region by s (own_a - own_b): the spread scales with s.
    full, part = runs[1.0][0], runs[0.6][0]
    assert torch.allclose(part[0][edit] - part[1][edit], 0.6 * (full[0][edit] - full[1][edit]), atol=1e-5)
