"""docs/training.md's key table is the training config: one row per key of ``CocoEditConfig``, in
the models' order, each with its pydantic default; and every training-config key the docs pages
name in code (``reward.pixel.scorer``, ``train.parallel: fsdp2``) is a key."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from cocoedit.core.settings import valid_keys
from cocoedit.rewards.mllm import MLLMRewardConfig
from cocoedit.rl.config import CocoEditConfig, ConfigError, load_config

ROOT = Path(__file__).parents[2]
TRAINING = ROOT / "docs" / "training.md"
SECTIONS = {"model", "data", "sampling", "reward", "advantage", "nft", "regularizer", "optim", "train", "judge"}
YAML_BLOCK = re.compile(r"```ya?ml\n(.*?)```", re.S)
#: Keys whose value is a mapping: ``reward.weights.judge`` names an entry, not a key.
MAPPINGS = ("model.backbone_options.", "reward.weights.", "reward.functions.", "reward.options.")
#: The earlier spellings that training.md's "Older configs" names; they are still read.
OLD_SPELLINGS = {"reward.weights", "reward.functions", "reward.options", "reward.pixel", "train.logger"}
#: ``--set reward.components.<name or index>.<field>`` names a component's field.
COMPONENT_FIELD = re.compile(r"reward\.components\.\w+\.(name|function|weight|options)(\..+)?")


def documented_defaults(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """``(key, default as the table writes it)`` in the models' order: ``required`` for a field
    without default, empty for a section, else ``str`` of the default."""
    rows = []
    for name, field in model.model_fields.items():
        key, annotation = prefix + name, field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation is not MLLMRewardConfig:
            rows.append((key, ""))
            rows += documented_defaults(annotation, f"{key}.")
        elif field.default is PydanticUndefined and field.default_factory is None:
            rows.append((key, "required"))
        else:
            rows.append((key, str(field.get_default(call_default_factory=True))))
    return rows


def key_table(markdown: str) -> list[tuple[str, str]]:
    """``(key, default)`` of each row of the table under "## Configuration keys"."""
    section = markdown.split("\n## Configuration keys\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        key = re.fullmatch(r"\**`([\w.]+)`\**", cells[0]) if line.startswith("|") else None
        if key:
            rows.append((key.group(1), cells[1].strip("`")))
    return rows


def test_the_key_table_lists_every_key_with_its_default():
    documented = key_table(TRAINING.read_text(encoding="utf-8"))
    expected = documented_defaults(CocoEditConfig)
    assert len(expected) > 60
    assert [k for k, _ in documented] == [k for k, _ in expected], "rows and keys differ (or their order)"
    wrong = [f"{k}: table {d!r}, code {c!r}" for (k, d), (_, c) in zip(documented, expected, strict=True) if d != c]
    assert not wrong, "defaults in docs/training.md differ from the config models:\n" + "\n".join(wrong)


def test_config_keys_named_in_the_docs_exist():
    keys = set(valid_keys(CocoEditConfig))  # the old top-level `judge.*` keys are not today's
    unknown = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for key in re.findall(r"`([a-z_]+(?:\.[a-z_0-9]+)+)(?::[^`]*)?`", page.read_text(encoding="utf-8")):
            known = key in keys or key in OLD_SPELLINGS or COMPONENT_FIELD.fullmatch(key)
            if key.split(".")[0] in SECTIONS and not known and not key.startswith(MAPPINGS):
                unknown.append(f"{page.name}: {key}")
    assert not unknown, f"config keys that do not exist: {unknown}"


def training_config_blocks() -> list[tuple[str, dict]]:
    """``(page:line, mapping)`` of every YAML block in README and docs/ whose top-level keys are all
    training-config sections (or the old top-level ``judge``)."""
    blocks = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for match in YAML_BLOCK.finditer(text):
            data = yaml.safe_load(match.group(1))
            if isinstance(data, dict) and data and set(data) <= set(CocoEditConfig.model_fields) | {"judge"}:
                blocks.append((f"{page.name}:{text[: match.start()].count(chr(10)) + 1}", data))
    return blocks


def test_every_training_config_example_in_the_docs_loads(tmp_path):
    blocks = training_config_blocks()
    assert len(blocks) >= 3 and any(name.startswith("judge.md") for name, _ in blocks)
    for name, sections in blocks:
        config = tmp_path / "example.yaml"
        config.write_text(yaml.safe_dump({**load_config("tiny").model_dump(mode="json"), **sections}))
        try:
            load_config(config)
        except ConfigError as e:
            raise AssertionError(f"{name}: the example does not load: {e}") from None
