"""The whole update of a step (PolicyUpdate): gradients clipped, the optimizer step taken or
skipped, the old policy moved towards the current one; and the three policies of a real
backbone: the old one predicts with the old adapter, the reference with none."""

import pytest
import torch

from cocoedit.models.condition import EditCondition, pack_latents, unpack_latents
from cocoedit.models.lora import adapter_parameters, adapters_disabled, add_lora, init_lora_, use_adapter
from cocoedit.rl.advantages import Credit
from cocoedit.rl.old_policy import old_policy_decay
from cocoedit.rl.step import AdapterPolicies, NonFiniteError, PolicyUpdate, RolloutBatch, StepSettings
from cocoedit.testing.policies import FreePolicies
from cocoedit.testing.trainer import tiny_backbone

GRID = (4, 4)


def _update(p, q, optimizer, **settings):
    return PolicyUpdate(
        policies=FreePolicies(p, q),
        current=[p],
        old=[q],
        optimizer=optimizer,
        settings=StepSettings(
            timesteps=torch.tensor([0.7, 0.4], dtype=torch.float64), num_timesteps=2, micro_batch_size=2, **settings
        ),
        pack=pack_latents,
        unpack=lambda z: unpack_latents(z, GRID),
    )


def _batch(r, valid, scale=1.0):
    clean = torch.stack([torch.full((4, 4), scale), torch.full((4, 4), -scale)])
    conds = [EditCondition(text={}, source_latents=torch.zeros(1, 4, 4), height=8, width=8, guidance=1.0)] * 2
    credit = Credit.single(torch.tensor(r), torch.tensor(valid))
    return RolloutBatch(clean=clean, conditions=conds, credit=credit, edit_masks=torch.zeros(2, 1, *GRID), seeds=[3, 4])


def test_the_gradient_is_clipped_before_the_step():
    # With plain SGD at lr 1 the step is exactly the clipped gradient, of norm grad_clip (the
    # adaptive weighting keeps this gradient's norm near 2.5 whatever the samples' scale).
    p = torch.zeros(1, 4, 4, requires_grad=True)
    q = torch.full((1, 4, 4), 0.1)
    update = _update(p, q, torch.optim.SGD([p], lr=1.0), grad_clip=0.1, old_policy_decay="none")
    result = update.step(_batch([1.0, 0.0], [True, True], scale=10.0), 1)
    assert result.grad_norm > 1 and result.stepped
    assert torch.linalg.vector_norm(p.detach()).item() == pytest.approx(0.1, rel=1e-4)


def test_no_valid_sample_skips_the_step_unless_told_otherwise():
    for skip, moves in ((True, False), (False, True)):
        p = torch.ones(1, 4, 4, requires_grad=True)
        optimizer = torch.optim.AdamW([p], lr=0.1, weight_decay=0.5)
        update = _update(p, torch.ones(1, 4, 4), optimizer, skip_step_without_valid=skip)
        result = update.step(_batch([1.0, 0.0], [False, False]), 1)
        assert result.stepped == moves
        assert (not torch.equal(p.detach(), torch.ones(1, 4, 4))) == moves  # weight decay alone moves it


def test_the_old_policy_follows_the_current_one_with_the_step_s_decay():
    p = torch.zeros(1, 4, 4, requires_grad=True)
    q = torch.full((1, 4, 4), 0.3)
    q_before = q.clone()
    update = _update(p, q, torch.optim.SGD([p], lr=0.5))
    result = update.step(_batch([0.9, 0.2], [True, True]), 200)
    decay = old_policy_decay(200, "linear")
    assert result.decay == decay == pytest.approx(0.2)
    assert torch.allclose(q, decay * q_before + (1 - decay) * p.detach())
    assert not torch.equal(p.detach(), torch.zeros(1, 4, 4))


def test_a_non_finite_weight_after_the_step_is_named():
    p = torch.zeros(1, 4, 4, requires_grad=True)
    update = _update(p, torch.zeros(1, 4, 4), torch.optim.SGD([p], lr=float("inf")))
    with pytest.raises(NonFiniteError, match="step 7: an adapter weight is not finite after the optimizer step"):
        update.step(_batch([1.0, 0.0], [True, True]), 7)


def test_each_policy_predicts_with_its_own_adapter():
    backbone = tiny_backbone("kontext")
    add_lora(backbone, "default", rank=4, alpha=4, seed=1)
    add_lora(backbone, "old", rank=4, alpha=4, seed=2)
    for name, seed in (("default", 3), ("old", 4)):
        init_lora_(backbone, name, seed=seed)
        with torch.no_grad():
            for p in adapter_parameters(backbone, name):
                p.add_(0.05 * seed)
    policies = AdapterPolicies(backbone, "default", "old")
    cond = backbone.encode_condition(["make it red"], torch.rand(1, 3, 64, 64), 64, 64)
    x_t = torch.randn(1, backbone.num_tokens(64, 64), cond.source_latents.shape[-1])
    t = torch.tensor([0.6])
    with torch.no_grad():
        expected = {}
        for name in ("default", "old"):
            with use_adapter(backbone, name):
                expected[name] = backbone.predict_velocity(x_t, t, cond)
        with adapters_disabled(backbone):
            expected["none"] = backbone.predict_velocity(x_t, t, cond)
    assert not torch.allclose(expected["old"], expected["default"])
    assert not torch.allclose(expected["old"], expected["none"])
    assert torch.equal(policies.old(x_t, t, cond), expected["old"])
    assert torch.equal(policies.reference(x_t, t, cond), expected["none"])
    with policies.current() as predict:
        assert torch.equal(predict(x_t, t, cond), expected["default"])
