"""`cocoedit edit`: single image equals the stock pipeline; batches write the eval layouts, resume, and
fail only the sample whose benchmark source is linked out of the benchmark folder."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.images import load_image
from cocoedit.eval.benchmarks import load_benchmark, result_path
from cocoedit.testing.tiny import save_tiny_pipeline

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SIZE = 32


def photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB").resize((SIZE, SIZE), Image.BICUBIC)


@pytest.fixture(scope="module")
def kontext_dir(tmp_path_factory):
    return save_tiny_pipeline("kontext", tmp_path_factory.mktemp("models") / "kontext")


def invoke(*args):
    return CliRunner().invoke(app, ["edit", *map(str, args)])


def test_single_image_equals_stock_pipeline(kontext_dir, tmp_path):
    from diffusers import FluxKontextPipeline

    src = tmp_path / "in.png"
    photo("astronaut").save(src)
    out = tmp_path / "out.png"
    result = invoke(
        "--model",
        kontext_dir,
        "--image",
        src,
        "--prompt",
        "make the sky blue",
        "-o",
        out,
        "--steps",
        3,
        "--guidance",
        2.5,
        "--seed",
        5,
    )
    assert result.exit_code == 0, result.output
    pipe = FluxKontextPipeline.from_pretrained(kontext_dir, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    expected = pipe(
        image=Image.open(src),
        prompt="make the sky blue",
        num_inference_steps=3,
        guidance_scale=2.5,
        height=SIZE,
        width=SIZE,
        max_area=SIZE * SIZE,
        _auto_resize=False,
        output_type="pt",
        generator=torch.Generator().manual_seed(5),
    ).images[0]
    ours = load_image(out)
    assert ours.shape == (3, SIZE, SIZE)
    # The file is 8-bit: equal up to rounding.
    assert (ours - (expected * 255).round() / 255).abs().max().item() <= 1 / 255 + 1e-6


def make_gedit(root):
    meta = {}
    for task, keys in {"color_alter": ["a1", "a2"], "subject-remove": ["b1"]}.items():
        folder = root / "fullset" / task / "en"
        folder.mkdir(parents=True)
        for key, name in zip(keys, ["astronaut", "coffee", "chelsea"], strict=False):
            photo(name).save(folder / f"{key}.png")
            Image.new("L", (SIZE, SIZE), 255).save(folder / f"{key}_mask.png")
            if key != "b1":  # b1 has no instruction in the metafile
                meta[f"{task}/en/{key}"] = {"instruction": f"edit {key}"}
    (root / "metafile_geditbench.json").write_text(json.dumps(meta))
    return root


def test_gedit_batch_writes_eval_layout_reports_failures_and_resumes(kontext_dir, tmp_path):
    bench = make_gedit(tmp_path / "gedit")
    out = tmp_path / "results"
    args = ("--model", kontext_dir, "--bench", "gedit", "--bench-dir", bench, "--out", out, "--steps", 2)
    first = invoke(*args)
    assert first.exit_code == 1  # one sample failed, the rest were written
    assert "2 written, 0 skipped (already done), 1 failed" in first.output
    assert "failed subject-remove/en/b1" in first.output and "no instruction" in first.output
    samples = load_benchmark("gedit", bench)
    written = {s.key: result_path(out, s) for s in samples if s.instruction}
    for path in written.values():
        assert path.is_file() and load_image(path).shape == (3, SIZE, SIZE)
    assert (out / "fullset" / "color_alter" / "en" / "a1.png").is_file()
    # Resume: readable outputs are skipped; a truncated one is redone, identically.
    good = written["color_alter/en/a1"].read_bytes()
    written["color_alter/en/a1"].write_bytes(good[:20])
    second = invoke(*args)
    assert "1 written, 1 skipped (already done), 1 failed" in second.output
    assert torch.equal(load_image(written["color_alter/en/a1"]), load_image(out / "fullset/color_alter/en/a1.png"))
    assert written["color_alter/en/a1"].read_bytes() == good


def test_a_benchmark_source_linked_out_of_its_folder_fails_that_sample_only(kontext_dir, tmp_path):
    bench = make_gedit(tmp_path / "gedit")
    linked = bench / "fullset" / "color_alter" / "en" / "a2.png"
    linked.rename(tmp_path / "elsewhere.png")
    linked.symlink_to(tmp_path / "elsewhere.png")
    out = tmp_path / "results"
    result = invoke("--model", kontext_dir, "--bench", "gedit", "--bench-dir", bench, "--out", out, "--steps", 2)
    assert result.exit_code == 1
    assert "1 written, 0 skipped (already done), 2 failed" in result.output
    assert "failed color_alter/en/a2" in result.output and "outside" in result.output
    assert (out / "fullset" / "color_alter" / "en" / "a1.png").is_file()
    assert not (out / "fullset" / "color_alter" / "en" / "a2.png").exists()


def test_manifest_and_imgedit_layouts(kontext_dir, tmp_path):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    photo("coffee").save(data / "images" / "c1.png")
    Image.new("L", (SIZE, SIZE), 0).save(data / "images" / "c1_mask.png")
    (data / "m.jsonl").write_text(
        json.dumps({"id": "c1", "source": "images/c1.png", "instruction": "make it red", "mask": "images/c1_mask.png"})
        + "\n"
    )
    result = invoke(
        "--model",
        kontext_dir,
        "--manifest",
        data / "m.jsonl",
        "--out",
        tmp_path / "r1",
        "--steps",
        2,
        "--sampler",
        "dpm2",
    )
    assert result.exit_code == 0, result.output
    assert load_image(tmp_path / "r1" / "c1.png").shape == (3, SIZE, SIZE)

    folder = tmp_path / "imgedit" / "singleturn" / "replace"
    folder.mkdir(parents=True)
    photo("chelsea").save(folder / "0001.png")
    (tmp_path / "imgedit" / "metafile_imgeditbench.json").write_text(
        json.dumps({"0001": {"prompt": "make the cat a dog"}})
    )
    result = invoke(
        "--model",
        kontext_dir,
        "--bench",
        "imgedit",
        "--bench-dir",
        tmp_path / "imgedit",
        "--out",
        tmp_path / "r2",
        "--steps",
        2,
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r2" / "0001.png").is_file()  # ImgEdit results are flat


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "choose one mode"),
        (("--image", "x.png"), "needs --image, --prompt and -o"),
        (("--manifest", "m.jsonl"), "needs --out"),
        (("--bench", "gedit", "--out", "o"), "--bench needs --bench-dir"),
        (("--image", "x.png", "--prompt", "p", "-o", "y.png", "--sampler", "heun"), "heun"),
        (("--image", "x.png", "--prompt", "p", "-o", "y.png", "--size", "12xq"), "expected N or HxW"),
    ],
)
def test_bad_options_are_named(kontext_dir, args, message):
    result = invoke("--model", kontext_dir, *args)
    assert result.exit_code != 0
    assert message in result.output


def test_missing_model_and_bad_size_are_clear_errors(kontext_dir, tmp_path):
    src = tmp_path / "in.png"
    photo("astronaut").save(src)
    result = invoke("--model", tmp_path / "nothing", "--image", src, "--prompt", "p", "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "no such folder" in result.output
    result = invoke("--model", kontext_dir, "--image", src, "--prompt", "p", "-o", tmp_path / "o.png", "--size", "40")
    assert result.exit_code == 2 and "multiples of 16" in result.output


def test_inputs_are_checked_before_the_model_loads(kontext_dir, tmp_path):
    """A pipeline folder without weights fails only when loaded, so each error below proves its
    check ran before the load (the minutes FLUX or Qwen take)."""
    hollow = tmp_path / "hollow"
    (hollow / "vae").mkdir(parents=True)
    for name in ("model_index.json", "vae/config.json"):
        (hollow / name).write_bytes((kontext_dir / name).read_bytes())
    src = tmp_path / "in.png"
    photo("astronaut").save(src)
    single = ("--prompt", "p", "-o", tmp_path / "o.png")
    result = invoke("--model", hollow, "--image", src, *single)
    assert result.exit_code == 2 and "cannot load the kontext pipeline" in result.output  # the load does fail

    result = invoke("--model", hollow, "--image", tmp_path / "nope.png", *single)
    assert result.exit_code == 2 and "nope.png" in result.output and "cannot load" not in result.output
    (tmp_path / "broken.png").write_bytes(src.read_bytes()[:100])
    result = invoke("--model", hollow, "--image", tmp_path / "broken.png", *single)
    assert result.exit_code == 2 and "broken.png" in result.output and "cannot load" not in result.output
    result = invoke("--model", hollow, "--image", src, *single, "--size", "40")
    assert result.exit_code == 2 and "multiples of 16" in result.output and "cannot load" not in result.output
    result = invoke("--model", hollow, "--bench", "gedit", "--bench-dir", tmp_path / "nobench", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "nobench: benchmark folder not found" in result.output
    result = invoke("--model", hollow, "--manifest", tmp_path / "none.jsonl", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "none.jsonl" in result.output and "cannot load" not in result.output
