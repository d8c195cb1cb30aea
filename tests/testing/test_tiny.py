"""Tiny offline pipelines: reproducible builds, save/reload by the stock class, `cocoedit dev make-tiny`."""

import json

import pytest
import torch
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.testing.tiny import BACKBONE_KINDS, build_tiny_pipeline

SIZE = 64


def run_stock(pipe, kind, image):
    size = dict(output_resolution=SIZE) if kind == "qwen-image-2.1" else dict(height=SIZE, width=SIZE)
    extra = dict(max_area=SIZE * SIZE, _auto_resize=False, max_sequence_length=48) if kind == "kontext" else {}
    if kind in ("flux2-klein", "flux2"):
        extra = dict(max_sequence_length=48)  # the stock default, 512, costs seconds and tests nothing more
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        image=image,
        prompt="make the sky blue",
        num_inference_steps=2,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
        **size,
        **extra,
    ).images


def test_make_tiny_offers_every_tiny_kind():
    from cocoedit.cli.dev import TinyKind

    assert tuple(k.value for k in TinyKind) == BACKBONE_KINDS


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_make_tiny_folder_loads_in_the_stock_class(kind, tmp_path, astronaut_small, small_qwen_constants):
    small_qwen_constants(SIZE * SIZE, 56 * 56)
    out = tmp_path / kind
    result = CliRunner().invoke(app, ["dev", "make-tiny", "--backbone", kind, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    index = json.loads((out / "model_index.json").read_text())
    in_memory = build_tiny_pipeline(kind)
    cls = type(in_memory)
    assert index["_class_name"] == cls.__name__
    reloaded = cls.from_pretrained(out, local_files_only=True)
    assert (
        run_stock(reloaded, kind, astronaut_small) - run_stock(in_memory, kind, astronaut_small)
    ).abs().max() <= 1e-5


def test_builds_are_reproducible():
    for kind in BACKBONE_KINDS:
        a, b = build_tiny_pipeline(kind), build_tiny_pipeline(kind)
        for name in ("tokenizer", "tokenizer_2"):
            if getattr(a, name, None) is not None:
                assert getattr(a, name).get_vocab() == getattr(b, name).get_vocab(), (kind, name)
        sa, sb = a.transformer.state_dict(), b.transformer.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    other_seed = build_tiny_pipeline("kontext", seed=1).transformer.state_dict()["proj_out.weight"]
    assert not torch.equal(other_seed, build_tiny_pipeline("kontext").transformer.state_dict()["proj_out.weight"])


def test_qwen_template_prefix_is_exactly_the_dropped_64_tokens():
    pipe = build_tiny_pipeline("qwen-image-edit-plus")
    # Everything before the instruction (system prompt + user header) is what the pipeline drops.
    prefix = pipe.prompt_template_encode.split("{}")[0]
    assert len(pipe.tokenizer(prefix).input_ids) == pipe.prompt_template_encode_start_idx == 64


def test_make_tiny_refuses_a_non_empty_folder_and_unknown_kind(tmp_path):
    (tmp_path / "x.txt").write_text("keep me")
    result = CliRunner().invoke(app, ["dev", "make-tiny", "--backbone", "kontext", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "not empty" in result.output
    result = CliRunner().invoke(app, ["dev", "make-tiny", "--backbone", "sdxl", "--out", str(tmp_path / "new")])
    assert result.exit_code != 0
    assert "sdxl" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_every_tiny_model_edits_through_the_cli_in_a_fresh_process(kind, tmp_path):
    import os
    import subprocess
    import sys

    from PIL import Image

    assert (
        CliRunner().invoke(app, ["dev", "make-tiny", "--backbone", kind, "--out", str(tmp_path / "m")]).exit_code == 0
    )
    Image.new("RGB", (64, 64), (90, 160, 30)).save(tmp_path / "in.png")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cocoedit",
            "edit",
            "--model",
            str(tmp_path / "m"),
            "--image",
            str(tmp_path / "in.png"),
            "--prompt",
            "make it blue",
            "-o",
            str(tmp_path / "out.png"),
            "--size",
            "64",
            "--steps",
            "2",
        ],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert Image.open(tmp_path / "out.png").size == (64, 64)
