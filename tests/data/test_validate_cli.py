"""`cocoedit data validate`: every bad row reported with its line and reason; nothing modified."""

import hashlib
import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from cocoedit.cli import app

runner = CliRunner()


def write_image(path, size=(32, 48), value=120):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)


def write_mask(path, size=(32, 48), box=(8, 8, 20, 30), fill=255):
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.zeros(size, np.uint8)
    y0, x0, y1, x1 = box
    mask[y0:y1, x0:x1] = fill
    Image.fromarray(mask).save(path)


def write_gradient(path, size=(32, 48)):
    """A grey ramp, not a mask: nearly every pixel is grey."""
    Image.fromarray(np.tile(np.linspace(0, 255, size[1]).astype(np.uint8), (size[0], 1))).save(path)


def row(i, **over):
    rec = {"id": f"s{i}", "source": f"images/{i}.png", "instruction": "make it blue", "mask": f"masks/{i}.png"}
    rec.update(over)
    return json.dumps(rec)


def build_dataset(root):
    for i in range(9):
        write_image(root / "images" / f"{i}.png")
        write_mask(root / "masks" / f"{i}.png")
    (root / "images" / "1.png").unlink()  # missing source
    data = (root / "images" / "2.png").read_bytes()
    (root / "images" / "2.png").write_bytes(data[: len(data) // 2])  # truncated
    write_mask(root / "masks" / "3.png", size=(30, 48))  # size mismatch
    write_mask(root / "masks" / "4.png", box=(0, 0, 0, 0))  # empty edit region
    write_mask(root / "masks" / "5.png", box=(0, 0, 32, 48))  # full edit region
    write_gradient(root / "masks" / "6.png")  # grey values: not a mask
    lines = [
        row(0),
        row(1),
        row(2),
        row(3),
        row(4),
        row(5),
        row(6),
        row(7, id="s0"),
        '{"id": "s8", "source": ',
        row(8, source="../outside.png"),
    ]
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root / "manifest.jsonl"


def digest(root):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_problem_is_reported_with_its_line_and_nothing_changes(tmp_path):
    manifest = build_dataset(tmp_path)
    before = digest(tmp_path)
    result = runner.invoke(app, ["data", "validate", str(manifest)])
    assert result.exit_code == 1
    out = result.stdout
    expected = [
        "line 2 [s1]: missing_file: source:",
        "line 3 [s2]: unreadable_file: source:",
        "line 4 [s3]: size_mismatch: mask 3.png is 48x30 but source 3.png is 48x32",
        "line 5 [s4]: empty_mask:",
        "line 6 [s5]: full_mask:",
        "line 7 [s6]: non_binary_mask:",
        "line 8 [s0]: duplicate_id: id 's0' already used on line 1",
        "line 9: bad_json:",
        "line 10 [s8]: outside_root: field 'source'",
    ]
    for text in expected:
        assert text in out, f"{text!r} not in output:\n{out}"
    assert "line 1 " not in out
    assert "10 row(s) checked: 9 bad row(s)" in out
    assert digest(tmp_path) == before


def test_report_mode_counts_problems_with_examples(tmp_path):
    manifest = build_dataset(tmp_path)
    result = runner.invoke(app, ["data", "validate", str(manifest), "--report", "--examples", "1"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    for kind in (
        "missing_file: 1",
        "unreadable_file: 1",
        "size_mismatch: 1",
        "empty_mask: 1",
        "full_mask: 1",
        "non_binary_mask: 1",
        "duplicate_id: 1",
        "bad_json: 1",
        "outside_root: 1",
    ):
        assert kind in lines


def test_clean_manifest_passes(tmp_path):
    for i in range(3):
        write_image(tmp_path / "images" / f"{i}.png")
        write_mask(tmp_path / "masks" / f"{i}.png")
    (tmp_path / "m.jsonl").write_text("\n".join(row(i) for i in range(3)) + "\n")
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "m.jsonl")])
    assert result.exit_code == 0, result.stdout
    assert "3 row(s) checked: ok" in result.stdout


def test_cocoedit40k_layout_is_detected_and_polarity_respected(tmp_path):
    write_image(tmp_path / "images" / "a.png")
    write_mask(tmp_path / "masks" / "a.png", box=(0, 0, 32, 48))  # all white = all keep: empty edit
    (tmp_path / "metadata.jsonl").write_text(
        json.dumps({"prompt": "x", "image": "images/a.png", "mask": "masks/a.png"}) + "\n"
    )
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "metadata.jsonl")])
    assert result.exit_code == 1
    assert "line 1 [images/a]: empty_mask: no edit region (mask a.png, white = keep)" in result.stdout


def test_missing_manifest_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "nope.jsonl: manifest not found" in result.output
