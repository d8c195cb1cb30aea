"""Reports, summaries and tables are written to a temporary file and renamed into place: a symbolic
link where the file goes is replaced, never written through, and a failed write leaves the old file
and no temporary file behind."""

import errno
from pathlib import Path

import pytest

from cocoedit.core.paths import write_bytes_atomic, write_text_atomic


def test_a_link_where_the_file_goes_is_replaced_not_written_through(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("theirs\n")
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "report.html"
    link.symlink_to(outside)
    dangling = tmp_path / "out" / "summary.json"
    dangling.symlink_to(tmp_path / "created.json")

    write_text_atomic(link, "<p>ours é</p>\r\n")
    write_bytes_atomic(dangling, b"{}")

    assert outside.read_text() == "theirs\n"
    assert not (tmp_path / "created.json").exists()
    assert not link.is_symlink() and link.read_bytes() == "<p>ours é</p>\r\n".encode()
    assert not dangling.is_symlink() and dangling.read_bytes() == b"{}"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    path.write_text("old")

    def full_disk(self, data):
        with open(self, "wb") as out:
            out.write(data[:2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_text_atomic(path, "new text")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
