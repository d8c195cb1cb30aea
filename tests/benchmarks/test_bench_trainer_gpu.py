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
    ("kind", "expected"),
    [
        # Published sizes (billions): FLUX.1 transformer 11.9, T5-XXL encoder 4.76, CLIP-L text 0.123;
        # Qwen-Image transformer 20.4, Qwen2.5-VL-7B 8.29.
        ("kontext", {"transformer": 11.9, "text_encoder_2": 4.76, "text_encoder": 0.123}),
        ("qwen-image-edit-plus", {"transformer": 20.43, "text_encoder": 8.29}),
    ],
)
def test_full_size_editors_have_the_published_sizes(kind, expected):
    bench = bench_module()
    entry = bench.BACKBONES[kind]
    pipe = entry.full_size(build_tiny_pipeline(kind), "meta", torch.bfloat16)  # no memory used
    for name, billions in expected.items():
        assert params(getattr(pipe, name)) == pytest.approx(billions, rel=0.01), name
    assert pipe.transformer.dtype == torch.bfloat16 and pipe.vae_scale_factor == 8


def test_every_backbone_trains_with_an_existing_preset():
    bench = bench_module()
    for entry in bench.BACKBONES.values():
        assert load_config(PRESETS_FOLDER / entry.preset).model.gradient_checkpointing


@pytest.mark.slow
def test_the_command_runs_on_tiny_models_and_counts_every_transformer_call(tmp_path, monkeypatch, capsys):
    out = tmp_path / "results.json"
    backbones = ["kontext"]  # the Qwen editors train with their smoke preset in tests/rl/test_smoke_presets.py
    monkeypatch.setattr(sys, "argv", ["bench_trainer_gpu.py", "--tiny", "--backbones", *backbones, "--out", str(out)])
    bench_module().main()
    report = json.loads(out.read_text())
    assert report["tiny"] and [r["backbone"] for r in report["results"]] == backbones
    for r in report["results"]:
        preset = load_config(ROOT / r["preset"])
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
