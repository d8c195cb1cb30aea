"""The pixel editor's source conditionings and its source-residual prediction."""

import torch

from cocoedit.demo.pixel_editor import build_pixel_editor
from cocoedit.models.registry import load_backbone, wrap_pipeline

SIZE = 16


def condition(backbone, source):
    return backbone.encode_condition(["make the red circle blue"], source, SIZE, SIZE)


def noisy(seed=0):
    return torch.randn(1, (SIZE // 4) ** 2, 48, generator=torch.Generator().manual_seed(seed))


def test_channel_conditioning_feeds_the_source_into_each_token():
    backbone = wrap_pipeline(build_pixel_editor(prediction="velocity"))
    assert backbone.source_conditioning == "channels"
    assert backbone.transformer.config.in_channels == 96 and backbone.transformer.config.out_channels == 48
    source = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    other = source.clone()
    other[..., :4, :4] = 1 - other[..., :4, :4]  # the source's first token only
    with torch.no_grad():
        a = backbone.predict_velocity(noisy(), 0.5, condition(backbone, source))
        b = backbone.predict_velocity(noisy(), 0.5, condition(backbone, other))
    assert a.shape == (1, 16, 48)
    assert (a - b).abs()[0, 0].max() > 10 * (a - b).abs()[0, 1:].max()  # mostly its own token changes


def test_sequence_conditioned_velocity_editors_still_load(tmp_path):
    # The format cached before the channel and prediction options existed.
    build_pixel_editor(conditioning="sequence", prediction="velocity").save_pretrained(tmp_path / "old")
    backbone = load_backbone(tmp_path / "old")
    assert backbone.source_conditioning == "sequence"
    with torch.no_grad():
        out = backbone.predict_velocity(noisy(), 0.5, condition(backbone, torch.rand(1, 3, SIZE, SIZE)))
    assert out.shape == (1, 16, 48) and torch.isfinite(out).all()


def test_a_source_residual_editor_starts_as_a_copy_and_its_x0_is_source_plus_output():
    from cocoedit.models.generate import edit_images

    pipe = build_pixel_editor(prediction="source_residual")
    backbone = wrap_pipeline(pipe)
    source = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    out = edit_images(
        backbone,
        ["remove the red circle", "add a blue square"],
        source,
        SIZE,
        SIZE,
        num_steps=4,
        sampler="dpm2",
        generator=torch.Generator().manual_seed(5),
    )
    assert (out - source).abs().max() < 1 / 255 + 1e-5  # untrained: the output layer is zero, the edit a copy
    torch.nn.init.normal_(pipe.transformer.proj_out.weight, std=0.1)
    cond = condition(backbone, source[:1])
    x, sigma = noisy(), 0.3
    with torch.no_grad():
        residual = backbone.transformer(
            hidden_states=torch.cat([x, cond.source_latents], -1),
            timestep=torch.tensor([sigma]),
            pooled_projections=cond.text["pooled_prompt_embeds"],
            encoder_hidden_states=cond.text["prompt_embeds"],
            txt_ids=torch.zeros(cond.text["prompt_embeds"].shape[1], 3),
            img_ids=backbone._position_ids(SIZE, SIZE, 0.0),
            return_dict=False,
        )[0]
        v = backbone.predict_velocity(x, sigma, cond)
    assert residual.abs().max() > 0.01
    assert torch.allclose(x - sigma * v, cond.source_latents + residual, atol=1e-5)


def test_editors_saved_before_the_prediction_option_load_as_velocity(tmp_path):
    import json

    build_pixel_editor(prediction="velocity").save_pretrained(tmp_path / "editor")
    index = tmp_path / "editor" / "model_index.json"
    data = json.loads(index.read_text())
    del data["prediction"]
    index.write_text(json.dumps(data))
    assert load_backbone(tmp_path / "editor").pipeline.config.get("prediction", "velocity") == "velocity"
