"""One rule maps an id to a file name: safe, inside the folder, the suffix appended, collisions refused."""

import pytest

from cocoedit.core.paths import UnsafeNameError, output_paths_for_ids, safe_file_name, unsafe_id_reason


def test_file_names_stay_in_the_folder_and_never_merge_dotted_ids(tmp_path):
    ids = ["img.000", "img.001", "x", "x.png", "../escape", "/etc/passwd", "a\\b", "..", "ok-1", "a" * 300]
    paths = output_paths_for_ids(tmp_path, ids, ".png")
    assert len(set(paths.values())) == len(ids)
    assert paths["img.000"].name == "img.000.png" and paths["x.png"].name == "x.png.png"
    for path in paths.values():
        assert path.parent == tmp_path and path.name.endswith(".png") and len(path.name) < 120
        assert "/" not in path.name and "\\" not in path.name and not path.name.startswith(".")
    assert paths["ok-1"] == tmp_path / "ok-1.png"
    assert safe_file_name("a/b", ".png") != safe_file_name("a_b", ".png")


def test_two_ids_for_one_file_are_refused_naming_both(tmp_path):
    with pytest.raises(UnsafeNameError, match=r"ids 'Cat' and 'cat' would both be written to .*/cat.png"):
        output_paths_for_ids(tmp_path, ["Cat", "dog", "cat"], ".png")  # one file on macOS and Windows
    crafted = safe_file_name("a/b", "")  # an id spelled like another id's file name
    with pytest.raises(UnsafeNameError, match=f"ids 'a/b' and '{crafted}'"):
        output_paths_for_ids(tmp_path, ["a/b", crafted], ".png")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("bad", ["../x", "a/../../b", "/abs", "\\\\server\\x", "C:\\x", "", "  ", "a\nb", "a\x00b"])
def test_unsafe_ids(bad):
    assert unsafe_id_reason(bad) is not None


@pytest.mark.parametrize("good", ["cat_0001", "images/a/0001", "img.000", "ü-2"])
def test_safe_ids(good):
    assert unsafe_id_reason(good) is None
