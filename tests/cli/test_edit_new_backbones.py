"""`cocoedit edit --bench` writes GEdit and ImgEdit results with the FLUX.2 [klein], FLUX.2 [dev] and
Qwen-Image-2.1 tiny models from `cocoedit dev make-tiny`, and refuses their bad sizes before loading."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.images import load_image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SIZE = 64
KINDS = ("flux2-klein", pytest.param("flux2", marks=pytest.mark.slow), "qwen-image-2.1")


def photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB").resize((SIZE, SIZE), Image.BICUBIC)


def invoke(*args):
    return CliRunner().invoke(app, [*map(str, args)])


@pytest.fixture(scope="module")
def benches(tmp_path_factory):
    root = tmp_path_factory.mktemp("benches")
    gedit = root / "gedit" / "fullset" / "color_alter" / "en"
    gedit.mkdir(parents=True)
    photo("astronaut").save(gedit / "a1.png")
    (root / "gedit" / "metafile_geditbench.json").write_text(json.dumps({"color_alter/en/a1": {"instruction": "red"}}))
    imgedit = root / "imgedit" / "singleturn" / "replace"
    imgedit.mkdir(parents=True)
    photo("chelsea").save(imgedit / "0001.png")
    (root / "imgedit" / "metafile_imgeditbench.json").write_text(json.dumps({"0001": {"prompt": "make it a dog"}}))
    return root


@pytest.mark.parametrize("kind", KINDS)
def test_benchmarks_are_edited_with_the_new_kinds(kind, benches, tmp_path):
    model = tmp_path / "model"
    assert invoke("dev", "make-tiny", "--backbone", kind, "--out", model).exit_code == 0
    steps = ("--steps", 2)
    result = invoke(
        "edit", "--model", model, "--bench", "gedit", "--bench-dir", benches / "gedit", "--out", tmp_path / "g", *steps
    )
    assert result.exit_code == 0, result.output
    assert load_image(tmp_path / "g" / "fullset" / "color_alter" / "en" / "a1.png").shape == (3, SIZE, SIZE)
    result = invoke(
        "edit",
        "--model",
        model,
        "--backbone",
        kind,
        "--bench",
        "imgedit",
        "--bench-dir",
        benches / "imgedit",
        "--out",
        tmp_path / "i",
        *steps,
    )
    assert result.exit_code == 0, result.output
    assert load_image(tmp_path / "i" / "0001.png").shape == (3, SIZE, SIZE)


@pytest.mark.parametrize(("kind", "multiple"), [("flux2-klein", 16), ("flux2", 16), ("qwen-image-2.1", 32)])
def test_a_bad_size_is_refused_before_the_model_loads(kind, multiple, tmp_path):
    from cocoedit.testing.tiny import save_tiny_pipeline

    full = save_tiny_pipeline(kind, tmp_path / "full")
    hollow = tmp_path / "hollow"  # config files only: loading it would fail with "cannot load"
    for name in ("model_index.json", "vae/config.json", "processor/processor_config.json"):
        if (full / name).is_file():
            (hollow / name).parent.mkdir(parents=True, exist_ok=True)
            (hollow / name).write_bytes((full / name).read_bytes())
    photo("astronaut").save(tmp_path / "in.png")
    single = ("edit", "--model", hollow, "--image", tmp_path / "in.png", "--prompt", "p", "-o", tmp_path / "o.png")
    result = invoke(*single, "--size", multiple + multiple // 2)
    assert result.exit_code == 2 and f"multiples of {multiple}" in result.output, result.output
    assert "cannot load" not in result.output
    if kind == "qwen-image-2.1":  # the tiny processor's 1024² maximum
        result = invoke(*single, "--size", "1024x1056")
        assert result.exit_code == 2 and "outside the vision-language processor's" in result.output, result.output
    result = invoke(*single, "--size", 2 * multiple)
    assert result.exit_code == 2 and f"cannot load the {kind} pipeline" in result.output  # the load itself fails
