"""Images and masks are written to a temporary file and renamed into place: a symbolic link where
the file goes is replaced, never written through, and a write that fails (a full disk) leaves the
old file as it was and no temporary file behind."""

import errno

import numpy as np
import pytest
import torch
from PIL import Image

from cocoedit.core.images import load_image, save_edit_mask, save_image


def test_a_link_where_the_file_goes_is_replaced_not_written_through(tmp_path):
    outside = tmp_path / "outside.png"
    Image.fromarray(np.full((4, 4, 3), 7, np.uint8)).save(outside)
    before = outside.read_bytes()
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "r.png"
    link.symlink_to(outside)
    dangling = tmp_path / "out" / "m.png"
    dangling.symlink_to(tmp_path / "created.png")

    save_image(torch.ones(3, 4, 4), link)
    save_edit_mask(torch.ones(1, 4, 4), dangling, "white_is_edit")

    assert outside.read_bytes() == before
    assert not (tmp_path / "created.png").exists()
    assert not link.is_symlink() and not dangling.is_symlink()
    assert load_image(link).min() == 1.0


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "r.png"
    save_image(torch.zeros(3, 4, 4), path)
    before = path.read_bytes()

    def full_disk(self, fp, *args, **kwargs):
        with open(fp, "wb") as out:
            out.write(b"\x89PNG")
        raise OSError(errno.ENOSPC, "No space left on device", str(fp))

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_image(torch.ones(3, 4, 4), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.png"]
