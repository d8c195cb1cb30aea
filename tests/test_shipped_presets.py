"""Every preset that ships inside the package loads and validates through the settings model of the
command that reads it, by name as users give it; and nothing points to the old top-level
``configs/`` folder any more."""

import re
from pathlib import Path

import pytest

from cocoedit.core.presets import PRESETS_FOLDER, list_presets
from cocoedit.curation.config import BuildConfig, load_build_config
from cocoedit.demo.settings import DemoSettings, load_demo_settings
from cocoedit.rl.config import CocoEditConfig, load_config

ROOT = Path(__file__).parents[1]
READERS = {
    "train": (load_config, CocoEditConfig),
    "data build": (load_build_config, BuildConfig),
    "demo": (load_demo_settings, DemoSettings),
}


@pytest.mark.parametrize("preset", list_presets(), ids=lambda p: p.name)
def test_each_preset_validates_by_name_for_its_command(preset):
    read, model = READERS[preset.command]
    loaded = read(preset.name)
    assert isinstance(loaded, model)
    assert loaded == read(preset.path)


def test_presets_cover_training_and_curation_and_nothing_else_is_in_the_folder():
    assert {p.command for p in list_presets()} >= {"train", "data build"}
    others = [p.name for p in PRESETS_FOLDER.iterdir() if p.suffix != ".yaml"]
    assert not others, f"files in {PRESETS_FOLDER} that are not presets: {others}"


def _text_files() -> list[Path]:
    found = [ROOT / name for name in ("README.md", "Makefile", "pyproject.toml", ".ci/run")]
    found += sorted((ROOT / "docs").glob("*.md"))
    for folder in ("src", "tests", "benchmarks"):
        found += sorted(p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".yaml", ".md", ".toml"))
    return [p for p in found if p.is_file() and p != Path(__file__)]


# Where an old path is meant: the package data's pattern, and the error for old paths and its tests.
MEANT = {
    "pyproject.toml": '"cocoedit" = ["configs/*.yaml"',
    "src/cocoedit/core/presets.py": "paths of older versions",
    "tests/core/test_presets.py": "configs/",
    "tests/test_bad_input_corpus.py": "old configs/ path",
}


def test_nothing_points_to_the_old_configs_folder():
    old = re.compile(r"(?<![\w/.-])configs/")  # src/cocoedit/configs/ is the new home
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in _text_files()
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if old.search(line) and MEANT.get(str(p.relative_to(ROOT)), "\0") not in line
    ]
    assert not found, "\n".join(found)
    assert not list((ROOT / "configs").glob("*.y*ml"))


def test_every_config_name_in_the_docs_is_a_preset_for_its_command():
    named = 0
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in path.read_text(encoding="utf-8").splitlines():
            for command, value in re.findall(r"cocoedit (train|data build|demo)\b.*?--config (\S+)", line):
                if "/" in value or value.endswith((".yaml", ".yml")) or value.isupper() or "|" in value:
                    continue  # a file's path, or a placeholder such as FILE or PRESET|FILE
                named += 1
                assert value in {p.name for p in list_presets(command)}, f"{path.name}: {line.strip()}"
    assert named >= 5


@pytest.mark.parametrize("command", READERS)
def test_every_reader_resolves_a_name_for_its_own_command_only(command, tmp_path, monkeypatch):
    import cocoedit.core.presets

    shipped = {"train": "mine", "data build": "curation_mine", "demo": "demo_mine"}
    texts = {"train": (PRESETS_FOLDER / "tiny.yaml").read_text(), "data build": "workers: 3\n", "demo": "seeds: [5]\n"}
    for cmd, name in shipped.items():
        (tmp_path / f"{name}.yaml").write_text(texts[cmd])
    monkeypatch.setattr(cocoedit.core.presets, "PRESETS_FOLDER", tmp_path)
    read, model = READERS[command]
    assert isinstance(read(shipped[command]), model)
    other = shipped["train" if command != "train" else "demo"]
    with pytest.raises(Exception, match=rf"^{other}: a preset for `cocoedit .*`, not `cocoedit {command}`"):
        read(other)


def test_first_run_describes_the_smoke_runs_as_the_presets_set_them():
    text = " ".join((ROOT / "docs" / "first-run.md").read_text(encoding="utf-8").split())
    said = re.search(
        r"a short run \((\d+) steps of (\d+) samples, (.*?), at (\d+)², a checkpoint and a validation at step (\d+)\)",
        text,
    )
    assert said, "first-run.md: the sentence on the smoke presets' short run"
    steps, samples, exceptions, side, every = said.groups()
    other = {name: int(n) for n, name in re.findall(r"(\d+) for `(\w[\w.]*)`", exceptions)}
    smoke = [p.name for p in list_presets("train") if p.name.endswith("_smoke")]
    assert len(smoke) >= 6 and set(other) <= set(smoke)
    for name in smoke:
        c = load_config(name)
        assert c.train.epochs == int(steps), name
        assert c.sampling.prompts_per_epoch * c.sampling.group_size == other.get(name, int(samples)), name
        assert c.model.height == c.model.width == int(side), name
        assert c.train.checkpoint_every == c.train.validate_every == int(every), name
