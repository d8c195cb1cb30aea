"""Pair datasets made of real photos with known edits (:mod:`cocoedit.testing.pairs`), for the
curation tests, and helpers to read the chat-completions requests the scripted judge received."""

import json

import pytest

from cocoedit.testing.pairs import H, W, known_edit, make_pairs, write_jsonl

__all__ = ["H", "W", "known_edit", "make_pairs", "write_jsonl"]


@pytest.fixture
def pair_jsonl(tmp_path):
    """A JSONL pair table of 8 real-photo pairs with known edits (columns uid, src, tgt, prompt, kind)."""
    rows = make_pairs(tmp_path, 8)
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    return tmp_path / "pairs.jsonl"


@pytest.fixture
def candidates(pair_jsonl, tmp_path):
    """The pair table imported as a candidate manifest (8 samples, ids pair-000...)."""
    from cocoedit.data.importers import ColumnMapping, import_pairs

    columns = ColumnMapping(source="src", target="tgt", instruction="prompt", id="uid", edit_type="kind")
    return import_pairs(pair_jsonl, tmp_path / "imported", columns=columns).manifest


def prompt_of(body: dict) -> str:
    """The text part of the last message of a chat-completions request."""
    content = body["messages"][-1]["content"]
    return "".join(part["text"] for part in content if part.get("type") == "text")


def images_in(body: dict) -> int:
    return sum(part.get("type") == "image_url" for part in body["messages"][-1]["content"])


def known_box_reply(i: int) -> str:
    """A grounding reply with pair ``i``'s edited rectangle on the 0-1000 grid of a 100 x 125 image."""
    y0, x0, y1, x1 = known_edit(i)
    return json.dumps({"boxes": [[x0 * 1000 // W, y0 * 1000 // H, x1 * 1000 // W, y1 * 1000 // H]]})
