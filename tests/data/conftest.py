"""A pair table of real photos with known edits (:mod:`cocoedit.testing.pairs`), for the import tests."""

import pytest

from cocoedit.testing.pairs import make_pairs, write_jsonl


@pytest.fixture
def pair_jsonl(tmp_path):
    """A JSONL pair table of 8 real-photo pairs with known edits (columns uid, src, tgt, prompt, kind)."""
    write_jsonl(tmp_path / "pairs.jsonl", make_pairs(tmp_path, 8))
    return tmp_path / "pairs.jsonl"
