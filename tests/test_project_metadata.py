"""pyproject.toml's metadata: the project's links (source, issues, docs, changelog) point into one
repository at files this clone has, and its comments name training-config keys that exist."""

import re
import tomllib
from pathlib import Path

from cocoedit.core.settings import valid_keys
from cocoedit.rl.config import CocoEditConfig

ROOT = Path(__file__).parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def test_the_links_name_the_repository_its_issues_docs_and_changelog():
    urls = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["urls"]
    assert {"Source", "Issues", "Documentation", "Changelog"} <= set(urls)
    repository = urls["Source"].rstrip("/")
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repository)
    assert urls["Issues"] == f"{repository}/issues"
    for name, path in (("Documentation", "docs"), ("Changelog", "CHANGELOG.md")):
        link = re.fullmatch(rf"{re.escape(repository)}/(tree|blob)/main/(.+)", urls[name])
        assert link and link.group(2) == path and (ROOT / path).exists(), urls[name]


def test_comments_name_config_keys_that_exist():
    keys = set(valid_keys(CocoEditConfig))
    comments = [line for line in PYPROJECT.read_text(encoding="utf-8").splitlines() if line.lstrip().startswith("#")]
    named = [key for line in comments for key in re.findall(r"\b((?:model|data|reward|train|optim)\.[a-z_.]+)", line)]
    assert named, "the wandb extra's comment names its config key"
    assert [k for k in named if k not in keys] == []
