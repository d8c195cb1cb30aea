"""What a ``--config`` value means: an existing path as it is, a bare name as the shipped preset for
the command, and a one-line error naming the presets (and the nearest) for anything else."""

from pathlib import Path

import pytest

import cocoedit.core.presets as presets
from cocoedit.core.presets import PresetError, find_preset, list_presets, resolve_config

TRAINING = [
    "flux2_dev",
    "flux2_dev_smoke",
    "flux2_klein",
    "flux2_klein_smoke",
    "kontext",
    "kontext_reference",
    "kontext_smoke",
    "qwen_image_2.1",
    "qwen_image_2.1_smoke",
    "qwen_image_edit_2509",
    "qwen_image_edit_2509_reference",
    "qwen_image_edit_2509_smoke",
    "qwen_image_edit_2511",
    "qwen_image_edit_2511_smoke",
    "tiny",
]
CURATION = ["curation_local_edits", "curation_pairs_difference"]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A presets folder of three, one per command, in place of the shipped one."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "small.yaml").write_text("# A small training run.\nmodel:\n  path: m\n")
    (shipped / "curation_boxes.yaml").write_text("\n#   Boxes from a VLM.  \n# more words\nannotate: {}\n")
    (shipped / "demo_fast.yaml").write_text("seeds: [0]\n# a comment after the first key\n")
    (shipped / "notes.txt").write_text("not a preset")
    monkeypatch.setattr(presets, "PRESETS_FOLDER", shipped)
    monkeypatch.chdir(tmp_path)
    return shipped


def test_the_shipped_presets_are_listed_with_their_command_and_description():
    listed = list_presets()
    assert [p.name for p in listed] == sorted(CURATION + TRAINING)
    assert [p.name for p in list_presets("train")] == TRAINING
    assert [p.name for p in list_presets("data build")] == CURATION
    assert list_presets("demo") == []
    for preset in listed:
        assert preset.path.parent.name == "configs" and preset.path.parent.parent.name == "cocoedit"
        assert 20 < len(preset.description) <= 100, preset  # one line that says what it is
        assert not preset.description.endswith(":"), preset


def test_the_command_comes_from_the_name_and_the_description_from_the_first_comment(folder):
    listed = {p.name: p for p in list_presets()}
    assert set(listed) == {"small", "curation_boxes", "demo_fast"}
    assert (listed["small"].command, listed["small"].description) == ("train", "A small training run.")
    assert (listed["curation_boxes"].command, listed["curation_boxes"].description) == (
        "data build",
        "Boxes from a VLM.",
    )
    assert (listed["demo_fast"].command, listed["demo_fast"].description) == ("demo", "")


def test_a_bare_name_is_the_shipped_preset(folder):
    assert resolve_config("small", "train") == folder / "small.yaml"
    assert resolve_config("small.yaml", "train") == folder / "small.yaml"
    assert resolve_config(Path("curation_boxes"), "data build") == folder / "curation_boxes.yaml"
    assert resolve_config("demo_fast", "demo") == folder / "demo_fast.yaml"


def test_an_existing_path_wins_over_a_preset_of_the_same_name(folder, tmp_path):
    (tmp_path / "small.yaml").write_text("model: {}\n")
    (tmp_path / "small").mkdir()
    assert resolve_config("small.yaml", "train") == Path("small.yaml")
    assert resolve_config("small", "train") == Path("small")  # a folder: its reader refuses it
    mine = tmp_path / "elsewhere" / "mine.yaml"
    mine.parent.mkdir()
    mine.write_text("model: {}\n")
    assert resolve_config(mine, "train") == mine
    assert resolve_config(str(mine), "data build") == mine  # a path is never checked against the command


def test_an_unknown_name_lists_the_presets_for_the_command_and_the_nearest(folder):
    with pytest.raises(PresetError) as e:
        resolve_config("smal", "train")
    assert str(e.value) == "smal: no such file or preset (did you mean 'small'?); presets for train: small"
    with pytest.raises(PresetError, match=r"^xyz: no such file or preset; presets for data build: curation_boxes$"):
        resolve_config("xyz", "data build")


def test_a_preset_of_another_command_is_refused_by_name(folder):
    with pytest.raises(PresetError) as e:
        resolve_config("curation_boxes", "train")
    assert str(e.value) == (
        "curation_boxes: a preset for `cocoedit data build`, not `cocoedit train` (presets for train: small)"
    )
    with pytest.raises(PresetError, match="a preset for `cocoedit train`, not `cocoedit demo`"):
        resolve_config("small.yaml", "demo")


def test_an_old_configs_path_names_the_preset_to_use(folder):
    with pytest.raises(PresetError) as e:
        resolve_config("configs/small.yaml", "train")
    assert str(e.value).startswith("configs/small.yaml: config file not found; the presets ship inside cocoedit: ")
    assert "--config small " in str(e.value)


def test_other_missing_files_are_left_to_their_reader(folder):
    assert resolve_config("missing.yaml", "train") == Path("missing.yaml")
    assert resolve_config("sub/small.txt", "train") == Path("sub/small.txt")
    assert resolve_config("configs/curation_boxes.yaml", "train") == Path("configs/curation_boxes.yaml")


def test_the_error_type_is_the_callers_and_commands_are_checked(folder):
    class ReaderError(Exception):
        pass

    with pytest.raises(ReaderError, match="no such file or preset"):
        resolve_config("nothing", "train", ReaderError)
    with pytest.raises(ValueError, match="unknown command 'evaluate'"):
        resolve_config("small", "evaluate")


def test_find_preset_by_name_for_any_command(folder):
    assert find_preset("curation_boxes").path == folder / "curation_boxes.yaml"
    with pytest.raises(PresetError, match=r"^demo_slow: no such preset \(did you mean 'demo_fast'\?\); presets: "):
        find_preset("demo_slow")
