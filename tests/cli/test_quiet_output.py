"""Third-party output only with ``--verbose``: a command that loads transformers and diffusers
(``dev make-tiny`` builds, saves and reloads a pipeline) prints none of their warnings or progress
bars, on a terminal or not; ``cocoedit --verbose`` shows them."""

import os
import subprocess
import sys

import pytest

from cocoedit.cli.quiet import QUIET_ENVIRONMENT
from cocoedit.testing.output import third_party_noise


def run_make_tiny(tmp_path, *flags):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for key in QUIET_ENVIRONMENT:
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, "-m", "cocoedit", *flags, "dev", "make-tiny", "--backbone", "kontext", "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_no_library_warnings_or_bars_without_verbose(tmp_path):
    quiet = run_make_tiny(tmp_path / "quiet")
    assert third_party_noise(quiet) == [], quiet
    assert quiet.strip().splitlines() == [f"wrote tiny kontext pipeline to {tmp_path / 'quiet'}"]


@pytest.mark.slow
def test_verbose_shows_them(tmp_path):
    # Also proves that the patterns above still match what the libraries print.
    verbose = third_party_noise(run_make_tiny(tmp_path / "verbose", "--verbose"))
    kinds = {line.split(":")[0] for line in verbose}
    assert "transformers' torchvision fallback notice" in kinds
    assert "a tqdm progress bar" in kinds
