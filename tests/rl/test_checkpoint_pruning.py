"""Pruning removes a checkpoint atomically: a kill in the middle of deleting one never leaves a
half-deleted ``step-*`` folder (it is renamed to a trash name first), and what an interrupted
prune left (a trash folder, or a ``step-*`` folder without its ``checkpoint.json`` from an earlier
version that deleted in place) is removed by :func:`remove_partial_checkpoints`, which a resume
runs."""

import shutil

import pytest

import cocoedit.rl.checkpoint as checkpoint
from cocoedit.rl.checkpoint import list_checkpoints, remove_partial_checkpoints, save_checkpoint


def write_files(folder):
    for name in ("a.bin", "b.bin", "c.bin"):
        (folder / name).write_bytes(b"x" * 100)


class Killed(BaseException):
    """What SIGKILL would do mid-delete: nothing after it runs."""


def test_a_kill_while_pruning_leaves_no_half_deleted_checkpoint(tmp_path, monkeypatch):
    for step in (1, 2):
        save_checkpoint(tmp_path, step, write_files, keep_last=2)

    def rmtree_then_die(path, *args, **kwargs):
        next(p for p in sorted(path.iterdir())).unlink()  # one file gone, then the kill
        raise Killed

    monkeypatch.setattr(checkpoint.shutil, "rmtree", rmtree_then_die)
    with pytest.raises(Killed):
        save_checkpoint(tmp_path, 3, write_files, keep_last=2)  # prunes step 1
    monkeypatch.undo()

    steps = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("step-"))
    assert steps == ["step-000002", "step-000003"]
    for _, folder in list_checkpoints(tmp_path):  # every step-* folder is whole
        assert sorted(p.name for p in folder.iterdir()) == ["a.bin", "b.bin", "c.bin", "checkpoint.json"]
    (trash,) = [p for p in tmp_path.iterdir() if p.name.startswith(".trash-step-000001")]

    assert remove_partial_checkpoints(tmp_path) == [trash]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000002", "step-000003"]


def test_resaving_a_step_replaces_it_whole(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, 1, write_files)
    real_rmtree = shutil.rmtree
    removed = []

    def rmtree(path, *args, **kwargs):
        removed.append(path.name)
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(checkpoint.shutil, "rmtree", rmtree)
    save_checkpoint(tmp_path, 1, write_files)
    assert removed and all(name.startswith(".trash-step-000001") for name in removed)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [1]


def test_what_an_in_place_delete_left_is_removed(tmp_path):
    save_checkpoint(tmp_path, 1, write_files)
    save_checkpoint(tmp_path, 2, write_files)
    half = tmp_path / "step-000001"
    (half / "checkpoint.json").unlink()  # an earlier version's rmtree, killed half-way
    (half / "a.bin").unlink()
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2]
    assert remove_partial_checkpoints(tmp_path) == [half]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000002"]
