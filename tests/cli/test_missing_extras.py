"""Commands that need an extra's package, run without it: one line naming the extra to install,
exit status 2, nothing written."""

import sys

import pytest
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.optional import MissingExtraError
from cocoedit.rl.logging import check_trackers
from cocoedit.viewer.browser import headless_browser

runner = CliRunner()


def _without(monkeypatch, *modules):
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails as if not installed


@pytest.mark.parametrize(
    ("missing", "args", "words"),
    [
        (["aiohttp"], ["rate", "serve", "--bench", "gedit", "--bench-dir", "b", "--results", "r", "--db", "OUT/r.db"],
         ["cocoedit rate serve needs aiohttp", "pip install 'cocoedit[rate]'"]),
        (["skimage", "skimage.data"], ["dev", "make-bench", "--bench", "imgedit", "--out", "OUT"],
         ["sample photos", "needs scikit-image", "pip install 'cocoedit[dev]'"]),
        (["skimage", "skimage.data"], ["dev", "make-dataset", "--out", "OUT"], ["pip install 'cocoedit[dev]'"]),
        (["pyarrow", "pyarrow.parquet"], ["data", "import", "TABLE.parquet", "--out", "OUT"],
         ["importing parquet tables", "needs pyarrow", "pip install 'cocoedit[curation]'"]),
        (["pyarrow"], ["data", "import", "TABLE.arrow", "--out", "OUT"], ["pip install 'cocoedit[curation]'"]),
    ],
)  # fmt: skip
def test_a_command_without_its_extra_names_it(monkeypatch, tmp_path, missing, args, words):
    for suffix in (".parquet", ".arrow"):
        (tmp_path / f"TABLE{suffix}").write_bytes(b"PAR1 not read")
    _without(monkeypatch, *missing)
    result = runner.invoke(
        app, [a.replace("OUT", str(tmp_path / "out")).replace("TABLE", str(tmp_path / "TABLE")) for a in args]
    )
    output = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    for word in words:
        assert word in output, output
    assert not (tmp_path / "out").exists()


def test_the_wandb_tracker_without_wandb_names_the_extra(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(Exception, match=r"the wandb package is not installed: pip install 'cocoedit\[wandb\]', or set"):
        check_trackers(["wandb"])


def test_the_browser_without_playwright_names_the_extra(monkeypatch):
    _without(monkeypatch, "playwright", "playwright.sync_api")
    with pytest.raises(
        MissingExtraError, match=r"needs playwright, which is not installed: pip install 'cocoedit\[dev\]'"
    ):
        with headless_browser():
            pass
