"""`cocoedit view`: one page per benchmark that opens from disk, with every folder's result, error map,
metrics (exact copies as exact), judge sub-scores and reasoning, and the human ratings merged in."""

import csv
import json
import re

from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.eval.benchmarks import load_benchmark
from cocoedit.eval.judge_bench import CSV_COLUMNS
from cocoedit.viewer.server import open_study

runner = CliRunner()


def page_data(html):
    return json.loads(re.search(r'<script id="view-data" type="application/json">(.*?)</script>', html, re.S).group(1))


def write_judge_csv(path, samples, labels):
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "judge_per_sample.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for i, s in enumerate(samples):
            for label in labels:
                w.writerow(
                    {
                        "results": label,
                        "key": s.key,
                        "category": s.category,
                        "language": "en",
                        "status": "scored",
                        "sc": 6,
                        "pq": 8,
                        "o": 48**0.5,
                        "success": 6 + i % 2,
                        "overedit": 6,
                        "naturalness": 8,
                        "artifacts": 9,
                        "reasoning": f"SC: reason {s.key} {label}\nPQ: fine",
                    }
                )


def test_view_merges_metrics_judge_and_ratings_into_a_page_that_opens_from_disk(small_bench, tmp_path):
    labels = ["careful", "drifting", "global"]
    folders = [str(small_bench.results[n]) for n in labels]
    samples = load_benchmark("gedit", small_bench.bench_dir)
    write_judge_csv(tmp_path / "judge", samples, labels)
    session, _ = open_study(
        "gedit", small_bench.bench_dir, [small_bench.results[n] for n in labels], tmp_path / "ratings.sqlite"
    )
    task = session.store.next_task("ann", session.units, 0)
    session.store.vote(task.id, "ann", [[0], [1]])
    session.store.close()
    args = [
        "view",
        "--bench",
        "gedit",
        "--bench-dir",
        str(small_bench.bench_dir),
        "--out",
        str(tmp_path / "view"),
        "--judge",
        str(tmp_path / "judge"),
        "--ratings",
        str(tmp_path / "ratings.sqlite"),
    ]
    for f in folders:
        args += ["--results", f]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    html = (tmp_path / "view" / "index.html").read_text()
    # Self-contained: nothing from the network, every image a file next to the page.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    data = page_data(html)
    assert data["labels"] == labels and len(data["samples"]) == len(samples)
    for entry in data["samples"]:
        assert entry["instruction"] and (tmp_path / "view" / entry["source"]).is_file()
        for label in labels:
            cell = entry["results"][label]
            assert (tmp_path / "view" / cell["image"]).is_file() and (tmp_path / "view" / cell["error_map"]).is_file()
            assert cell["exact"] == (label == "careful")
            assert cell["judge"]["reasoning"].startswith(f"SC: reason {entry['key']} {label}")
            assert cell["judge"]["success"] in (6.0, 7.0) and cell["judge"]["artifacts"] == 9.0
    drifting = data["samples"][0]["results"]["drifting"]["metrics"]
    assert abs(drifting["keep_psnr"] - 30.07) < 0.01  # computed here: no --consistency given
    rated = [e for e in data["samples"] if e["ratings"]]
    assert len(rated) == 1 and rated[0]["key"] == task.sample_key
    assert rated[0]["ratings"][0]["ranking"] == [[task.shown[0]], [task.shown[1]]]
    # The folder table: exact copies counted and kept out of the PSNR mean; the rating standings merged.
    careful_row = html.split("<td>careful</td>")[1].split("</tr>")[0]
    cells = re.findall(r"<td>(.*?)</td>", careful_row)
    assert cells[2] == str(len(samples)) and cells[3] == "–"
    assert "human Bradley–Terry (Elo)" in html and "judge O mean" in html


def test_view_reads_consistency_outputs_and_refuses_what_it_cannot_use(small_bench, tmp_path):
    cons = tmp_path / "cons"
    base = ["--bench", "gedit", "--bench-dir", str(small_bench.bench_dir)]
    r = runner.invoke(
        app, ["eval", "consistency", *base, "--results", str(small_bench.results["global"]), "--out", str(cons)]
    )
    assert r.exit_code == 0, r.output
    with open(cons / "per_sample.csv", newline="") as f:
        expected = {row["key"]: float(row["keep_psnr"]) for row in csv.DictReader(f)}
    r = runner.invoke(
        app,
        [
            "view",
            *base,
            "--results",
            str(small_bench.results["global"]),
            "--out",
            str(tmp_path / "v"),
            "--consistency",
            str(cons),
        ],
    )
    assert r.exit_code == 0, r.output
    data = page_data((tmp_path / "v" / "index.html").read_text())
    assert {e["key"]: e["results"]["global"]["metrics"]["keep_psnr"] for e in data["samples"]} == expected
    r = runner.invoke(
        app,
        [
            "view",
            *base,
            "--results",
            str(small_bench.results["global"]),
            "--out",
            str(tmp_path / "v2"),
            "--consistency",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 2 and "per_sample.csv" in r.output
    r = runner.invoke(app, ["view", *base, "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "v3")])
    assert r.exit_code == 2 and "results folder not found" in r.output


def test_a_source_linked_out_of_the_benchmark_is_that_samples_error_on_the_page(small_bench, tmp_path):
    import shutil

    bench = tmp_path / "bench"
    shutil.copytree(small_bench.bench_dir, bench)
    first, *others = load_benchmark("gedit", bench)
    first.source.rename(tmp_path / "elsewhere.png")
    first.source.symlink_to(tmp_path / "elsewhere.png")
    args = ["view", "--bench", "gedit", "--bench-dir", str(bench), "--out", str(tmp_path / "v")]
    r = runner.invoke(app, [*args, "--results", str(small_bench.results["careful"])])
    assert r.exit_code == 0, r.output
    entries = {e["key"]: e for e in page_data((tmp_path / "v" / "index.html").read_text())["samples"]}
    assert "outside" in entries[first.key]["error"] and "source" not in entries[first.key]
    assert all("error" not in entries[s.key] and entries[s.key]["source"] for s in others)
