"""FLUX.2 specifics: the distilled [klein] ignores guidance as its pipeline does, the schedule's
empirical mu depends on the steps, the latent grid is the VAE's (normalised) latent, and [dev]
loads without torchvision although its checkpoint names a Pixtral processor."""

import json
import math
import shutil

import pytest
import torch

from cocoedit.models.generate import edit_images
from cocoedit.models.registry import load_backbone, wrap_pipeline
from cocoedit.testing.stock import TINY_OPTIONS, stock_edit
from cocoedit.testing.tiny import build_tiny_pipeline, save_tiny_pipeline

SIZE = 64
PROMPT = "make the sky blue"


def backbone(kind, **config):
    pipe = build_tiny_pipeline(kind)
    pipe.set_progress_bar_config(disable=True)
    if config:
        pipe.register_to_config(**config)
    return wrap_pipeline(pipe, **TINY_OPTIONS[kind])


def test_distilled_klein_ignores_guidance_as_its_pipeline(astronaut_small):
    bb = backbone("flux2-klein", is_distilled=True)
    assert bb.encode_condition(PROMPT, astronaut_small, SIZE, SIZE, guidance=4.0).negative_text is None
    ours = edit_images(
        bb, PROMPT, astronaut_small, SIZE, SIZE, 1, guidance=4.0, generator=torch.Generator().manual_seed(5)
    )
    unguided = edit_images(
        bb, PROMPT, astronaut_small, SIZE, SIZE, 1, guidance=1.0, generator=torch.Generator().manual_seed(5)
    )
    stock = stock_edit(
        bb.pipeline, "flux2-klein", astronaut_small, PROMPT, steps=1, guidance=4.0, seed=5, height=SIZE, width=SIZE
    )
    assert torch.equal(ours, unguided)
    assert (ours - stock).abs().max().item() <= 1e-4
    # The base checkpoint does guide, with the pipeline's empty negative prompt.
    base = backbone("flux2-klein")
    cond = base.encode_condition(PROMPT, astronaut_small, SIZE, SIZE, guidance=4.0)
    assert cond.negative_text is not None
    empty, _ = base.pipeline.encode_prompt([""], max_sequence_length=TINY_OPTIONS["flux2-klein"]["max_sequence_length"])
    assert torch.equal(cond.negative_text["prompt_embeds"], empty)


def empirical_mu(tokens, steps):
    """FLUX.2's mu by hand: linear in the steps between its fits at 10 and 200 steps."""
    at_200 = 0.00016927 * tokens + 0.45666666
    at_10 = 8.73809524e-05 * tokens + 1.89833333
    slope = (at_200 - at_10) / 190.0
    return slope * steps + at_200 - 200.0 * slope


@pytest.mark.parametrize("steps", [4, 28])
def test_schedule_uses_the_empirical_mu_of_the_steps(steps):
    bb = backbone("flux2")
    sigmas = bb.sigma_schedule(steps, 512, 512)  # 8x VAE: 64² latents, 1024 tokens
    mu = empirical_mu(1024, steps)
    expected = [math.exp(mu) / (math.exp(mu) + 1 / s - 1) for s in torch.linspace(1, 1 / steps, steps).tolist()]
    assert sigmas.tolist() == pytest.approx([*expected, 0.0], abs=1e-6)
    assert sigmas[-1].item() == 0.0 and len(sigmas) == steps + 1


def test_latent_grid_is_the_normalised_vae_latent(astronaut_small):
    bb = backbone("flux2-klein")
    vae = bb.pipeline.vae
    grid = bb.unpack(bb.encode_source(astronaut_small, SIZE, SIZE), SIZE, SIZE)
    assert grid.shape == (1, vae.config.latent_channels, SIZE // 8, SIZE // 8)
    pixels = bb.pipeline.image_processor.preprocess(astronaut_small, SIZE, SIZE)
    with torch.no_grad():
        raw = vae.encode(pixels).latent_dist.mode()  # [1, C, h, w]
    # Batch-norm statistics are per patchified channel (c, dy, dx): spread them over the 2x2 patches.
    mean = vae.bn.running_mean.view(-1, 2, 2).repeat(1, SIZE // 16, SIZE // 16)
    std = torch.sqrt(vae.bn.running_var + vae.config.batch_norm_eps).view(-1, 2, 2).repeat(1, SIZE // 16, SIZE // 16)
    assert torch.allclose(grid[0] * std + mean, raw[0], atol=1e-5)
    assert torch.equal(bb.pack(grid), bb.encode_source(astronaut_small, SIZE, SIZE))


def test_dev_loads_without_torchvision_when_its_tokenizer_is_a_pixtral_processor(tmp_path, astronaut_small):
    from diffusers import Flux2Pipeline

    folder = save_tiny_pipeline("flux2", tmp_path / "dev")
    index = json.loads((folder / "model_index.json").read_text())
    index["tokenizer"] = ["transformers", "PixtralProcessor"]  # as in the real FLUX.2-dev checkpoint
    (folder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises((ValueError, TypeError)):  # transformers' Pixtral processor needs torchvision
        Flux2Pipeline.from_pretrained(folder, local_files_only=True)
    bb = load_backbone(folder, max_sequence_length=48)
    reference = backbone("flux2")
    cond, expected = (b.encode_condition(PROMPT, astronaut_small, SIZE, SIZE) for b in (bb, reference))
    assert torch.equal(cond.text["prompt_embeds"], expected.text["prompt_embeds"])
    shutil.rmtree(folder)
