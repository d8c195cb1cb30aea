"""benchmarks/bench_trainer_gpu.py keeps working without a GPU: its full-size editors, built on the
meta device, have the published parameter counts; and the whole command runs on tiny models (the
trainer's real path, each backbone's smoke preset), counting exactly the transformer calls the
preset's settings imply."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from cocoedit.core.presets import PRESETS_FOLDER
from cocoedit.rl.config import load_config
from cocoedit.testing.tiny import build_tiny_pipeline

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_trainer_gpu.py"


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_trainer_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def params(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e9


@pytest.mark.parametrize(
    ("kind", "expected", "vae_factor"),
    [
        # Published sizes (billions): FLUX.1 transformer 11.9, T5-XXL encoder 4.76, CLIP-L text 0.123;
        # Qwen-Image transformer 20.4, Qwen2.5-VL-7B 8.29; FLUX.2 [klein] 4B 3.88 and Qwen3-4B 4.02;
        # FLUX.2 [dev] 32.2 and Mistral Small 3.1 24.0; Qwen-Image-2.1 7.12 and Qwen3-VL-8B 8.77.
        ("kontext", {"transformer": 11.9, "text_encoder_2": 4.76, "text_encoder": 0.123}, 8),
        ("qwen-image-edit-plus", {"transformer": 20.43, "text_encoder": 8.29}, 8),
        ("flux2-klein", {"transformer": 3.88, "text_encoder": 4.02}, 8),
        ("flux2", {"transformer": 32.22, "text_encoder": 24.0}, 8),
        ("qwen-image-2.1", {"transformer": 7.12, "text_encoder": 8.77}, 16),
    ],
)
def test_full_size_editors_have_the_published_sizes(kind, expected, vae_factor):
    bench = bench_module()
    entry = bench.BACKBONES[kind]
    pipe = entry.full_size(build_tiny_pipeline(kind), "meta", torch.bfloat16)  # no memory used
    for name, billions in expected.items():
        assert params(getattr(pipe, name)) == pytest.approx(billions, rel=0.01), name
    assert pipe.transformer.dtype == torch.bfloat16 and pipe.vae_scale_factor == vae_factor


def test_flux2_dev_fits_an_80_gb_gpu_with_its_text_encoder_cut_where_the_transformer_reads_it():
    bench = bench_module()
    pipe = bench.full_size_flux2(build_tiny_pipeline("flux2"), "meta", torch.bfloat16, published_text_encoder=False)
    text = pipe.text_encoder.config.text_config
    # The transformer's context is three stacked hidden states (layers 10, 20, 30) of the published width.
    assert 3 * text.hidden_size == pipe.transformer.config.joint_attention_dim and text.num_hidden_layers > 30
    assert params(pipe.text_encoder) == pytest.approx(2.84, rel=0.01)
    weights = 2 * (params(pipe.transformer) + params(pipe.text_encoder)) * 1e9 / 2**30
    assert weights < 66  # GiB in bf16: ~8 GiB left on an 80 GB GPU for adapters and activations
    assert bench.BACKBONES["flux2"].full_size is bench.full_size_flux2


def test_flops_count_the_tokens_the_transformer_attends_to():
    """B (2 P T + 4 L T² d) per call, times 4 with gradient under checkpointing; Qwen-Image-2.1's
    image slots in the text are filled by source latents already counted in hidden_states."""
    bench = bench_module()
    transformer = build_tiny_pipeline("qwen-image-2.1").transformer
    counter = bench.FlopCounter(transformer, checkpointing=True)
    p, layers, d = counter.params, 2, 2 * 16  # the tiny transformer: 2 blocks, 2 heads of 16
    assert (counter.layers, counter.dim) == (layers, d)
    hidden, text = torch.zeros(3, 8, 1), torch.zeros(3, 5, 1)
    slots = torch.tensor([[False, True, False, False, False, True, True]] * 3)  # 5 text positions, 2 target slots
    with torch.no_grad():
        counter._count(transformer, (), {"hidden_states": hidden, "encoder_hidden_states": text, "img_mask": slots})
    tokens = 8 + 4
    assert counter.flops == 3 * (2 * p * tokens + 4 * layers * tokens**2 * d)
    counter.flops = 0.0
    counter._count(transformer, (), {"hidden_states": hidden, "encoder_hidden_states": text})  # with gradient
    assert counter.flops == 4 * 3 * (2 * p * 13 + 4 * layers * 13**2 * d)
    assert counter.calls == {"no_grad": 1, "grad": 1}
    counter.close()


def test_every_backbone_trains_with_an_existing_preset():
    bench = bench_module()
    for entry in bench.BACKBONES.values():
        assert load_config(PRESETS_FOLDER / entry.preset).model.gradient_checkpointing


@pytest.mark.slow
def test_the_command_runs_on_tiny_models_and_counts_every_transformer_call(tmp_path, monkeypatch, capsys):
    out = tmp_path / "results.json"
    # The Qwen-Image-Edit editors train with their smoke preset in tests/rl/test_smoke_presets.py.
    backbones = ["kontext", "flux2-klein", "flux2", "qwen-image-2.1"]
    monkeypatch.setattr(sys, "argv", ["bench_trainer_gpu.py", "--tiny", "--backbones", *backbones, "--out", str(out)])
    bench_module().main()
    report = json.loads(out.read_text())
    assert report["tiny"] and [r["backbone"] for r in report["results"]] == backbones
    for r in report["results"]:
        preset = load_config(PRESETS_FOLDER / f"{r['preset']}.yaml")
        s, nft = preset.sampling, preset.nft
        timesteps = int(s.steps * nft.timestep_fraction)
        # One sampling batch (one call per rollout step), then per trained timestep the old and
        # reference predictions without gradient and the current one with it.
        assert r["samples_per_step"] == r["sampling_batch"] == s.batch_size
        assert r["transformer_calls_per_step"] == {"no_grad": s.steps + timesteps * 2, "grad": timesteps}
        assert r["s_per_step"] > 0 and r["samples_per_s"] == pytest.approx(
            r["samples_per_step"] / r["s_per_step"], rel=1e-3
        )
        assert r["transformer_tflop_per_step"] > 0 and r["mfu"] is None and r["peak_memory_gib"] is None
    assert "s/step" in capsys.readouterr().out
