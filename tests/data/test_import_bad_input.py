"""`cocoedit data import`: dotted and suffix-like ids get files of their own, path cells that are
not readable images are row errors (never copied, named on the console), a table that is not
UTF-8 is named, and an --out that would overwrite an input
file is refused with no input changed."""

import hashlib
import json
import os

import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.data.importers import ColumnMapping, import_pairs
from cocoedit.data.manifest import CandidateSample, read_manifest
from cocoedit.data.tables import DataImportError

runner = CliRunner()
NO_TARGET = ColumnMapping(target=None)
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera")


def photo(path, i):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(getattr(data, PHOTOS[i])()[:40, :40]).save(path)
    return path


def table(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_every_id_gets_its_own_files(tmp_path):
    ids = ["img.000", "img.001", "img.002", "x", "x.png"]
    rows = [
        {
            "id": sample_id,
            "source": str(photo(tmp_path / "raw" / f"{i}.png", i).relative_to(tmp_path)),
            "instruction": "make it red",
        }
        for i, sample_id in enumerate(ids)
    ]
    result = import_pairs(table(tmp_path / "t.jsonl", rows), tmp_path / "out", columns=NO_TARGET)
    samples = {s.id: s for s in read_manifest(result.manifest, model=CandidateSample)}
    assert result.imported == 5 and len({s.source for s in samples.values()}) == 5
    for i, sample_id in enumerate(ids):
        assert samples[sample_id].source.read_bytes() == (tmp_path / "raw" / f"{i}.png").read_bytes()


def test_path_cells_that_are_not_images_are_named_row_errors(tmp_path):
    good = photo(tmp_path / "raw" / "good.png", 0)
    (tmp_path / "raw" / "notes.txt").write_text("not a picture")
    (tmp_path / "raw" / "cut.png").write_bytes(good.read_bytes()[:300])
    sources = ["raw/good.png", "raw/notes.txt", "/etc/hostname", "raw/cut.png"]
    rows = [{"id": f"r{i}", "source": s, "instruction": "make it red"} for i, s in enumerate(sources)]
    result = runner.invoke(
        app,
        ["data", "import", str(table(tmp_path / "t.jsonl", rows)), "--out", str(tmp_path / "out"), "--target-col", ""],
    )
    assert result.exit_code == 0, result.output
    assert "1 imported, 3 skipped" in result.output
    logged = [json.loads(line) for line in (tmp_path / "out" / "import_skipped.jsonl").read_text().splitlines()]
    assert [(e["row"], e["reason"]) for e in logged] == [
        (2, "column 'source'"),
        (3, "column 'source'"),
        (4, "column 'source'"),
    ]
    assert "notes.txt: not a readable image" in logged[0]["error"]
    assert "hostname" in logged[1]["error"]
    assert "cut.png: unreadable or truncated image" in logged[2]["error"]
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == ["r0.png"]
    shown = " ".join(result.output.split())  # the console names each skipped row with its reason
    assert "row 2: column 'source':" in shown and "notes.txt: not a readable image" in shown
    assert "row 4: column 'source':" in shown and "import_skipped.jsonl" in shown


def test_a_table_that_is_not_utf8_is_named(tmp_path):
    photo(tmp_path / "raw" / "good.png", 0)
    csv = tmp_path / "t.csv"
    csv.write_bytes("id,source,instruction\nr0,raw/good.png,caf\xe9 au lait\n".encode("latin-1"))
    result = runner.invoke(app, ["data", "import", str(csv), "--out", str(tmp_path / "out"), "--target-col", ""])
    assert result.exit_code == 2, result.output
    assert f"{csv}: not UTF-8 text" in " ".join(result.output.split())
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_bytes(b'{"id": "r0", "source": "raw/good.png", "instruction": "caf\xe9"}\n')
    with pytest.raises(DataImportError, match="t.jsonl: not UTF-8 text"):
        import_pairs(jsonl, tmp_path / "out2", columns=NO_TARGET)


def test_an_out_folder_that_would_overwrite_an_input_is_refused(tmp_path):
    folder = tmp_path / "dataset"
    photo(folder / "images" / "b.png", 0)
    photo(folder / "images" / "c.png", 1)
    # Row "b" would be written to images/b.png, its own input; row "c" reads images/c.png.
    rows = [
        {"id": "b", "source": "images/c.png", "instruction": "make it red"},
        {"id": "c", "source": "images/b.png", "instruction": "make it blue"},
    ]
    t = table(folder / "t.jsonl", rows)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(DataImportError, match=r"writing .*images/b.png would overwrite the input file .*images/b.png"):
        import_pairs(t, folder, columns=NO_TARGET)
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}
    assert after == before  # nothing changed, nothing left behind
    result = runner.invoke(app, ["data", "import", str(t), "--out", str(folder), "--target-col", ""])
    assert result.exit_code == 2 and "would overwrite the input file" in result.output
    with pytest.raises(DataImportError, match="manifest.jsonl would overwrite the input file"):
        import_pairs(table(folder / "manifest.jsonl", rows), folder, columns=NO_TARGET)
    assert os.path.getsize(folder / "manifest.jsonl") > 0
