"""A full disk during ``cocoedit data import`` is one line; a previous import's output is left as
it was (files are staged and moved into place only when every row is in, the manifest and the
skipped-rows file are replaced atomically); and once space is freed the same command imports
everything, exactly as an import that never ran out of space."""

import errno
import hashlib
import json
import shutil

from PIL import Image
from skimage import data
from typer.testing import CliRunner

import cocoedit.data.importers
from cocoedit.cli import app

runner = CliRunner()
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def pair_table(folder):
    """Four (source, target, instruction) rows over real photo crops."""
    rows = []
    for i, name in enumerate(PHOTOS):
        photo = getattr(data, name)()[:48, :64]
        Image.fromarray(photo).save(folder / f"src{i}.png")
        Image.fromarray(255 - photo).save(folder / f"tgt{i}.png")
        rows.append({"id": f"p{i}", "source": f"src{i}.png", "target": f"tgt{i}.png", "instruction": "invert it"})
    (folder / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder / "pairs.jsonl"


def digests(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def test_a_full_disk_is_one_line_and_the_rerun_imports_everything(tmp_path, monkeypatch):
    table = pair_table(tmp_path)
    args = ["data", "import", str(table), "--out", str(tmp_path / "out")]
    assert runner.invoke(app, [*args[:-1], str(tmp_path / "clean")]).exit_code == 0
    assert runner.invoke(app, args).exit_code == 0  # an earlier import into the same folder
    before = digests(tmp_path / "out")

    real_copy = shutil.copyfile
    copies = []

    def copy_until_full(src, dst, *a, **k):
        copies.append(dst)
        if len(copies) > 5:  # the sixth file does not fit: a few bytes land, then ENOSPC
            with open(dst, "wb") as out:
                out.write(b"\x89PNG")
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_copy(src, dst, *a, **k)

    monkeypatch.setattr(cocoedit.data.importers.shutil, "copyfile", copy_until_full)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert "no space left" in line and ".import-staging" in line and "run the same command again" in line
    assert "Traceback" not in result.output
    assert digests(tmp_path / "out") == before  # the earlier import is untouched, nothing half-written

    monkeypatch.undo()  # space freed
    assert runner.invoke(app, args).exit_code == 0
    assert digests(tmp_path / "out") == digests(tmp_path / "clean")
