"""`cocoedit demo`: the built-in default job writes its report and says where it is."""

import json

from typer.testing import CliRunner

from cocoedit.cli import app


def test_demo_writes_and_names_its_report(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--per-category", "1"])
    assert result.exit_code == 0, result.output
    report = tmp_path / "consistency" / "report.html"
    assert f"report: {report}" in result.stdout
    assert report.stat().st_size > 10_000
    summary = json.loads((tmp_path / "consistency" / "summary.json").read_text())
    psnr = {k: v["overall_macro"]["keep_psnr"] for k, v in summary["results"].items()}
    assert psnr["careful"] > psnr["drifting"] > psnr["global"]
