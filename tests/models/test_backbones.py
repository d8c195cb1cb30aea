"""Backbone adapters equal the stock diffusers pipelines, and the interface's batch operations."""

import pytest
import torch

from cocoedit.models.condition import BackboneError, EditCondition, pack_latents, unpack_latents
from cocoedit.models.generate import edit_images
from cocoedit.models.registry import wrap_pipeline
from cocoedit.testing.stock import TINY_OPTIONS, stock_edit
from cocoedit.testing.tiny import build_tiny_pipeline

SIZE = 64  # working resolution (the photo fixtures' size)
VL_AREA = 56 * 56  # 2509 vision-language image area in tests (real: 384²)

KINDS = ("kontext", "qwen-image-edit", "qwen-image-edit-plus", "flux2-klein", "flux2", "qwen-image-2.1")
PROMPT = "make the sky blue"


@pytest.fixture(scope="module")
def pipelines():
    out = {}
    for kind in KINDS:
        pipe = build_tiny_pipeline(kind)
        pipe.set_progress_bar_config(disable=True)
        out[kind] = pipe
    return out


def backbone_for(pipe, kind):
    return wrap_pipeline(pipe, **TINY_OPTIONS.get(kind, {}))


def stock_call(pipe, kind, image, guidance, steps, seed, height=SIZE, width=SIZE):
    return stock_edit(pipe, kind, image, PROMPT, steps=steps, guidance=guidance, seed=seed, height=height, width=width)


@pytest.mark.parametrize(
    "kind, guidance",
    [
        ("kontext", 2.5),
        ("qwen-image-edit", 1.0),
        ("qwen-image-edit-plus", 1.0),
        ("qwen-image-edit-plus", 4.0),
        # Without guidance: test_non_square_equals_stock (Qwen-Image-2.1) and test_flux2.py (distilled [klein]).
        ("flux2-klein", 4.0),  # true CFG with the pipeline's empty negative prompt
        ("flux2", 4.0),  # the guidance embedding
        ("qwen-image-2.1", 3.0),  # true CFG, no rescale
    ],
)
def test_euler_equals_stock_pipeline(pipelines, kind, guidance, astronaut_small, small_qwen_constants):
    small_qwen_constants(SIZE * SIZE, VL_AREA)
    pipe = pipelines[kind]
    expected = stock_call(pipe, kind, astronaut_small, guidance, steps=3, seed=7)
    ours = edit_images(
        backbone_for(pipe, kind),
        PROMPT,
        astronaut_small,
        SIZE,
        SIZE,
        3,
        guidance=guidance,
        generator=torch.Generator().manual_seed(7),
    )
    assert ours.shape == expected.shape == (1, 3, SIZE, SIZE)
    assert (ours - expected).abs().max().item() <= 1e-4
    # The output depends on the source: another photo gives an edit outside the equality bound.
    other = edit_images(
        backbone_for(pipe, kind),
        PROMPT,
        astronaut_small.rotate(90),
        SIZE,
        SIZE,
        3,
        guidance=guidance,
        generator=torch.Generator().manual_seed(7),
    )
    assert (other - ours).abs().max().item() > 1e-4


@pytest.mark.parametrize("kind", ["kontext", "flux2-klein", "qwen-image-2.1"])
def test_non_square_equals_stock(pipelines, kind, coffee_small):
    pipe = pipelines[kind]
    image = coffee_small.resize((96, 64))
    guidance = backbone_for(pipe, kind).default_guidance
    expected = stock_call(pipe, kind, image, guidance, steps=2, seed=1, height=64, width=96)
    ours = edit_images(
        backbone_for(pipe, kind),
        PROMPT,
        image,
        64,
        96,
        2,
        guidance=guidance,
        generator=torch.Generator().manual_seed(1),
    )
    assert ours.shape == expected.shape == (1, 3, 64, 96)
    assert (ours - expected).abs().max().item() <= 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_batched_condition_equals_one_at_a_time(pipelines, kind, astronaut_small, coffee_small):
    bb = backbone_for(pipelines[kind], kind)
    prompts = ["make the sky blue", "turn the cat into a dog and add a red hat"]  # different lengths
    both = bb.encode_condition(prompts, [astronaut_small, coffee_small], SIZE, SIZE)
    singles = [
        bb.encode_condition(p, im, SIZE, SIZE) for p, im in zip(prompts, [astronaut_small, coffee_small], strict=True)
    ]
    x = bb.initial_noise(2, SIZE, SIZE, torch.Generator().manual_seed(0))
    with torch.no_grad():
        v_both = bb.predict_velocity(x, 0.6, both)
        v_each = torch.cat([bb.predict_velocity(x[i : i + 1], 0.6, singles[i]) for i in range(2)])
        v_cat = bb.predict_velocity(x, 0.6, EditCondition.cat(singles))
    assert (v_both - v_each).abs().max().item() <= 1e-5
    assert (v_cat - v_each).abs().max().item() <= 1e-5
    # A group of k copies per prompt (GRPO) and selection back.
    group = both.repeat_interleave(3)
    assert group.batch_size == 6
    picked = group.select([0, 3])
    for key in both.text:
        assert torch.equal(picked.text[key], both.text[key])
    assert torch.equal(picked.source_latents, both.source_latents)


@pytest.mark.parametrize("kind", KINDS)
def test_unpack_pack_on_the_latent_grid(pipelines, kind):
    bb = backbone_for(pipelines[kind], kind)
    noise = bb.initial_noise(2, SIZE, 2 * SIZE, torch.Generator().manual_seed(0))
    grid = bb.unpack(noise, SIZE, 2 * SIZE)
    h, w = bb.latent_grid(SIZE, 2 * SIZE)
    assert grid.shape == (2, bb.latent_channels, h, w)
    assert torch.equal(bb.pack(grid), noise)


def test_packing_by_hand():
    grid = torch.arange(16.0).view(1, 1, 4, 4)
    packed = pack_latents(grid)
    # First token is the top-left 2x2 patch in row-major order.
    assert packed.shape == (1, 4, 4)
    assert packed[0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]
    assert packed[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0]
    assert torch.equal(unpack_latents(packed, (4, 4)), grid)
    with pytest.raises(BackboneError, match="do not fit a 6x4"):
        unpack_latents(packed, (6, 4))


def test_sigma_schedules_match_the_reference_derivation(pipelines):
    # method.md §e.2: 10 steps at 1024 target tokens (512² for the real models).
    kontext = backbone_for(pipelines["kontext"], "kontext")
    sig = kontext.sigma_schedule(10, 256, 256)  # tiny Kontext VAE is 8x: 256² -> 32² latents -> 256 tokens
    assert sig.dtype == torch.float64 and sig[0].item() == 1.0 and sig[-1].item() == 0.0
    # Scheduler default mu at 256 tokens is 0.5: sigma' = e^0.5 / (e^0.5 + 1/sigma - 1).
    s = 0.9
    assert sig[1].item() == pytest.approx(1.6487213 / (1.6487213 + 1 / s - 1), abs=1e-6)
    full = kontext.sigma_schedule(10, 512, 512)  # 1024 tokens, as the real model at 512²
    expected = [1.000, 0.944, 0.883, 0.814, 0.738, 0.653, 0.556, 0.446, 0.320, 0.173, 0.0]
    assert full.tolist() == pytest.approx(expected, abs=1.5e-3)
    qwen = backbone_for(pipelines["qwen-image-edit-plus"], "qwen-image-edit-plus")
    q = qwen.sigma_schedule(10, 256, 256)  # tiny Qwen VAE is 4x: 256² -> 1024 tokens
    expected_q = [1.000, 0.929, 0.852, 0.767, 0.673, 0.570, 0.456, 0.327, 0.183, 0.020, 0.0]
    assert q.tolist() == pytest.approx(expected_q, abs=1.5e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_inputs_are_named(pipelines, kind, astronaut_small):
    bb = backbone_for(pipelines[kind], kind)
    m = bb.resolution_multiple
    with pytest.raises(BackboneError, match=f"multiples of {m}"):
        bb.encode_condition(PROMPT, astronaut_small, SIZE + m // 2, SIZE)
    with pytest.raises(BackboneError, match="2 instructions for 1 source"):
        bb.encode_condition([PROMPT, PROMPT], astronaut_small, SIZE, SIZE)
    cond = bb.encode_condition(PROMPT, astronaut_small, SIZE, SIZE)
    with pytest.raises(BackboneError, match="batch 2 != condition batch 1"):
        bb.predict_velocity(bb.initial_noise(2, SIZE, SIZE), 0.5, cond)
    with pytest.raises(BackboneError, match="num_steps"):
        bb.sigma_schedule(0, SIZE, SIZE)
    if bb.pipeline.scheduler.config.get("shift_terminal"):  # the Qwen schedulers: one step is 0/0, not NaN images
        with pytest.raises(BackboneError, match=r"1 step\(s\) give a non-finite schedule .* use at least 2 steps"):
            bb.sigma_schedule(1, SIZE, SIZE)
    else:
        assert bb.sigma_schedule(1, SIZE, SIZE).tolist() == [1.0, 0.0]


def test_conditions_from_different_settings_do_not_concatenate(pipelines, astronaut_small):
    bb = backbone_for(pipelines["qwen-image-edit-plus"], "qwen-image-edit-plus")
    a = bb.encode_condition(PROMPT, astronaut_small, SIZE, SIZE, guidance=1.0)
    b = bb.encode_condition(PROMPT, astronaut_small, SIZE, SIZE, guidance=4.0)
    assert a.negative_text is None and b.negative_text is not None
    with pytest.raises(BackboneError, match="differ in resolution or guidance"):
        EditCondition.cat([a, b])


@pytest.mark.parametrize("kind", ["flux2-klein", "flux2", "qwen-image-2.1"])
def test_every_sampler_runs_on_the_new_backbones(pipelines, kind, astronaut_small):
    from cocoedit.models.generate import sample_latents

    bb = backbone_for(pipelines[kind], kind)
    cond = bb.encode_condition(PROMPT, astronaut_small, SIZE, SIZE, guidance=1.0)

    def run(sampler, noise_level=0.7):
        generator = torch.Generator().manual_seed(3)
        return sample_latents(bb, cond, 3, sampler, generator, noise_level, return_trajectory=True)

    euler, dpm2, sde, still = run("euler"), run("dpm2"), run("sde"), run("sde", noise_level=0.0)
    assert torch.equal(still.sample, euler.sample)  # the SDE without noise is the Euler ODE
    for out in (euler, dpm2, sde):
        assert len(out.trajectory) == 4 and bool(torch.isfinite(out.sample).all())
    assert (dpm2.sample - euler.sample).abs().max() > 0 and (sde.sample - euler.sample).abs().max() > 1e-3
    assert bb.decode(sde.sample, SIZE, SIZE).shape == (1, 3, SIZE, SIZE)
