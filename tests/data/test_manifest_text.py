"""A manifest the project writes reads back: Unicode line separators inside strings, CRLF line
ends and a UTF-8 byte-order mark."""

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from cocoedit.data.manifest import EditSample, count_rows, detect_layout, read_manifest, write_manifest


@pytest.fixture
def files(tmp_path):
    Image.fromarray(data.astronaut()[:32, :32]).save(tmp_path / "a.png")
    Image.fromarray(np.eye(32, dtype=np.uint8) * 255).save(tmp_path / "m.png")
    return tmp_path


def test_instructions_with_line_separators_round_trip(files):
    tricky = ["up\u2028down", "para\u2029graph", "next\u0085line", "fs\x1cgs\x1drs\x1e", "cr\rlf\r\n", "tab\tbell\x07"]
    samples = [
        EditSample(id=f"s{i}", source=files / "a.png", mask=files / "m.png", instruction=text)
        for i, text in enumerate(tricky)
    ]
    path = write_manifest(samples, files / "manifest.jsonl")
    assert count_rows(path) == len(tricky)
    assert [s.instruction for s in read_manifest(path)] == tricky
    assert "\u2028" not in path.read_text(encoding="utf-8")  # escaped for tools that split there
    # as older versions and other tools write them: raw inside the strings
    raw = "".join(
        json.dumps({"id": f"r{i}", "source": "a.png", "mask": "m.png", "instruction": text}, ensure_ascii=False) + "\n"
        for i, text in enumerate(tricky)
    )
    (files / "raw.jsonl").write_text(raw, encoding="utf-8", newline="")
    assert [s.instruction for s in read_manifest(files / "raw.jsonl")] == tricky


def test_a_byte_order_mark_and_crlf_lines_are_accepted(files):
    line = '{"id": "s0", "source": "a.png", "mask": "m.png", "instruction": "make it red"}'
    path = files / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (line + "\r\n" + line.replace("s0", "s1") + "\r\n").encode())
    assert [s.id for s in read_manifest(path)] == ["s0", "s1"]
    assert detect_layout(path) == "manifest" and count_rows(path) == 2
    rel = files / "metadata.jsonl"
    rel.write_bytes(b"\xef\xbb\xbf" + b'{"prompt": "make it red", "image": "a.png", "mask": "m.png"}\n')
    assert detect_layout(rel) == "cocoedit40k"
