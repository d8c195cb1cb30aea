"""`cocoedit configs list / show`: every shipped preset listed, printed as it is, copied out to edit."""

import yaml
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.presets import PRESETS_FOLDER, list_presets
from cocoedit.rl.config import load_config

runner = CliRunner()


def test_list_names_every_preset_with_its_command_and_description():
    result = runner.invoke(app, ["configs", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "for", "description"]
    presets = list_presets()
    assert len(lines) == len(presets) + 2
    for preset, line in zip(presets, lines[1:], strict=False):
        assert line.split()[0] == preset.name
        assert f"cocoedit {preset.command}" in line and line.endswith(preset.description)
    assert lines[-1].startswith(f"{len(presets)} presets in {PRESETS_FOLDER} ")


def test_show_prints_the_file_as_it_is():
    result = runner.invoke(app, ["configs", "show", "tiny"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (PRESETS_FOLDER / "tiny.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(result.stdout)["model"]["path"] == "models/tiny-kontext"


def test_show_out_writes_a_copy_that_loads_like_the_preset(tmp_path):
    result = runner.invoke(app, ["configs", "show", "kontext", "--out", str(tmp_path / "mine" / "k.yaml")])
    assert result.exit_code == 0, result.output
    copy = tmp_path / "mine" / "k.yaml"
    assert copy.read_bytes() == (PRESETS_FOLDER / "kontext.yaml").read_bytes()
    assert f"cocoedit train --config {copy}" in result.stdout
    assert load_config(copy) == load_config("kontext")

    into_folder = runner.invoke(app, ["configs", "show", "curation_local_edits", "--out", str(tmp_path)])
    assert into_folder.exit_code == 0, into_folder.output
    assert (tmp_path / "curation_local_edits.yaml").read_bytes() == (
        PRESETS_FOLDER / "curation_local_edits.yaml"
    ).read_bytes()
    assert "cocoedit data build --config" in into_folder.stdout


def test_show_out_never_overwrites(tmp_path):
    mine = tmp_path / "tiny.yaml"
    mine.write_text("model: {path: my-model}\n")
    for out in (mine, tmp_path):  # the file itself, or the folder holding a tiny.yaml
        result = runner.invoke(app, ["configs", "show", "tiny", "--out", str(out)])
        assert result.exit_code == 2
        assert f"{mine}: already exists" in " ".join(result.output.split())
    assert mine.read_text() == "model: {path: my-model}\n"


def test_show_of_an_unknown_name_suggests_the_nearest():
    result = runner.invoke(app, ["configs", "show", "kontext_referense"])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "kontext_referense: no such preset (did you mean 'kontext_reference'?); presets: " in output
    assert "Traceback" not in result.output
