"""`cocoedit data validate` names a row whose file is a link out of the dataset, a decompression
bomb or an unsafe id, reads 16-bit images right, goes on with the other rows, and refuses a
manifest without rows."""

import json

import numpy as np
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.images import MAX_IMAGE_PIXELS_ENV
from cocoedit.testing.sample_data import make_sample_manifest

runner = CliRunner()


def test_bad_files_and_ids_are_row_errors_and_the_other_rows_go_on(tmp_path, monkeypatch):
    manifest = make_sample_manifest(tmp_path / "ds", samples=3, size=(64, 64))
    root = manifest.parent
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    secret = tmp_path / "secret.png"
    Image.fromarray(data.camera()[:64, :64]).save(secret)
    (root / "images" / "link.png").symlink_to(secret)
    Image.new("1", (12000, 12000)).save(root / "images" / "bomb.png", optimize=True)
    Image.fromarray(data.camera()[:64, :64].astype(np.uint16) * 257).save(root / "images" / "deep.png")
    mask = rows[0]["mask"]
    extra = [
        {"id": "linked", "source": "images/link.png", "instruction": "make it red", "mask": mask},
        {"id": "bomb", "source": "images/bomb.png", "instruction": "make it red", "mask": mask},
        {"id": "deep", "source": "images/deep.png", "instruction": "make it red", "mask": mask},  # fine
        {"id": "../../escape", "source": rows[0]["source"], "instruction": "make it red", "mask": mask},
    ]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows + extra))
    result = runner.invoke(app, ["data", "validate", str(manifest)])
    out = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "line 4 [linked]: outside_root: field 'source': path 'images/link.png'" in out and "through a link to" in out
    assert "line 5 [bomb]: unreadable_file: source:" in out and "bomb.png: image is 12000x12000" in out
    assert "line 7 [../../escape]: bad_record: field 'id'" in out and "has a '..' component" in out
    assert "7 row(s) checked: 3 bad row(s), 3 problem(s)" in out  # rows 1-3 and the 16-bit row 6 pass

    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "1000")  # the setting reaches validate
    result = runner.invoke(app, ["data", "validate", str(manifest)])
    assert "over the limit of 1000" in result.output


def test_a_manifest_without_rows_is_refused(tmp_path):
    for text in ("", "\n  \n"):
        (tmp_path / "empty.jsonl").write_text(text)
        result = runner.invoke(app, ["data", "validate", str(tmp_path / "empty.jsonl")])
        assert result.exit_code == 1
        assert "no_rows:" in result.output and "empty.jsonl: manifest has no rows" in result.output
        assert ": ok" not in result.output
