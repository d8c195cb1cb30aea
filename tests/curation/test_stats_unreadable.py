"""`cocoedit data stats` of a manifest counts rows whose files do not read, or that do not parse,
as unreadable and names them; they are never counted as kept."""

import json

from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.testing.sample_data import make_sample_manifest

runner = CliRunner()


def test_unreadable_rows_are_counted_and_named(tmp_path):
    manifest = make_sample_manifest(tmp_path / "ds", samples=3, size=(48, 48))
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    (manifest.parent / "images" / "text.png").write_text("no picture")
    rows.append({**rows[0], "id": "broken", "source": "images/text.png"})
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    result = runner.invoke(app, ["data", "stats", str(manifest)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "5 samples: kept 3, dropped 0, failed 0, unreadable 2" in out
    assert "manifest.jsonl:4:" in out and "text.png: not a readable image" in out
    assert "manifest.jsonl:5: bad JSON" in out
    stats = json.loads((manifest.parent / "stats.json").read_text())
    assert stats["reasons"] == {"bad_record": 1, "unreadable_file": 1}
