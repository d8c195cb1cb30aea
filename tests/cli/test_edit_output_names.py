"""`cocoedit edit --manifest` writes each id to its own safe file inside --out and refuses ids that
would leave it or share a file before a model loads; an empty --prompt is refused."""

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

import cocoedit.editing
from cocoedit.cli import app
from cocoedit.editing import jobs_from_manifest
from cocoedit.testing.tiny import save_tiny_pipeline


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline("kontext", tmp_path_factory.mktemp("models") / "kontext")


@pytest.fixture
def no_model_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr(cocoedit.editing, "load_editor", refuse)


def manifest(root, ids):
    Image.fromarray(data.astronaut()[:32, :32]).save(root / "a.png")
    Image.fromarray(np.eye(32, dtype=np.uint8) * 255).save(root / "m.png")
    path = root / "manifest.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": i, "source": "a.png", "mask": "m.png", "instruction": "make it red"}) + "\n" for i in ids
        )
    )
    return path


def test_outputs_are_one_safe_file_per_id(tmp_path):
    jobs = jobs_from_manifest(manifest(tmp_path, ["img.000", "img.001", "x", "x.png", "a/b"]), tmp_path / "out")
    outputs = [job.output for job in jobs]
    assert len(set(outputs)) == 5 and all(p.parent == tmp_path / "out" for p in outputs)
    assert [p.name for p in outputs[:4]] == ["img.000.png", "img.001.png", "x.png", "x.png.png"]


def test_unsafe_or_colliding_ids_are_refused_before_the_model_loads(model_dir, tmp_path, no_model_loading):
    def edit(ids, folder):
        (tmp_path / folder).mkdir()
        return CliRunner().invoke(
            app,
            [
                "edit",
                "--model",
                str(model_dir),
                "--manifest",
                str(manifest(tmp_path / folder, ids)),
                "--out",
                str(tmp_path / "out"),
            ],
        )

    result = edit(["ok", "../../escape"], "dotdot")
    assert result.exit_code == 2 and "field 'id'" in result.output and "has a '..' component" in result.output
    result = edit(["ok", "/tmp/abs"], "absolute")
    assert result.exit_code == 2 and "is an absolute path" in result.output
    result = edit(["Cat", "cat"], "case")
    assert result.exit_code == 2 and "ids 'Cat' and 'cat' would both be written to" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_an_empty_prompt_is_refused(model_dir, tmp_path, no_model_loading):
    Image.fromarray(data.astronaut()[:32, :32]).save(tmp_path / "a.png")
    result = CliRunner().invoke(
        app,
        [
            "edit",
            "--model",
            str(model_dir),
            "--image",
            str(tmp_path / "a.png"),
            "--prompt",
            "  ",
            "-o",
            str(tmp_path / "o.png"),
        ],
    )
    assert result.exit_code == 2 and "--prompt is empty" in result.output
