"""Benchmarks and results read by the one rule: a result that is a bomb or a link out of the results
folder is that sample's error (the others are scored, 16-bit results read right), and so is a source
or mask linked out of the benchmark folder; ImgEdit keys that cannot name a result file are refused;
metafiles may start with a byte-order mark."""

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.core.images import ImageFileError
from cocoedit.eval.benchmarks import (
    BenchmarkError,
    load_bench_edit_mask,
    load_bench_source,
    load_benchmark,
    open_bench_source,
    result_path,
)


def test_bad_result_files_are_row_errors_and_the_others_are_scored(gedit_bench, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(gedit_bench.results["careful"], results)
    samples = load_benchmark("gedit", gedit_bench.bench_dir)
    bomb, linked, deep = (result_path(results, s) for s in samples[:3])
    size = Image.open(bomb).size
    Image.new("1", (12000, 12000)).save(bomb, optimize=True)
    outside = tmp_path / "elsewhere.png"
    shutil.move(linked, outside)
    linked.symlink_to(outside)
    grey = np.asarray(Image.open(deep).convert("L")).astype(np.uint16) * 257
    Image.fromarray(grey).save(deep)  # 16-bit: must read as the same grey, not white
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "consistency",
            "--bench",
            "gedit",
            "--bench-dir",
            str(gedit_bench.bench_dir),
            "--out",
            str(out),
            "--results",
            str(results),
        ],
    )
    assert result.exit_code == 1, result.output  # two samples not scored: said by the exit status
    summary = json.loads((out / "summary.json").read_text())["results"]["results"]
    assert summary["counts"]["unreadable"] == 2 and summary["counts"]["scored"] == gedit_bench.samples - 2
    errors = {u["key"]: u["error"] for u in summary["unreadable"]}
    assert "over the limit" in errors[samples[0].key] and "12000x12000" in errors[samples[0].key]
    assert "outside" in errors[samples[1].key] and "elsewhere.png" in errors[samples[1].key]
    assert size != (12000, 12000)


def _bench_copy(made, tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(made.bench_dir, bench)
    return bench, json.loads((bench / "metafile_imgeditbench.json").read_text())


def test_imgedit_keys_that_cannot_name_a_result_file_are_refused(imgedit_bench, tmp_path):
    bench, meta = _bench_copy(imgedit_bench, tmp_path)
    for key in ("../../escape", "a/b", "/abs", ".."):
        (bench / "metafile_imgeditbench.json").write_text(json.dumps({**meta, key: meta["1"]}))
        with pytest.raises(BenchmarkError, match="cannot name a result file"):
            load_benchmark("imgedit", bench)


def test_a_metafile_with_a_byte_order_mark_is_read(imgedit_bench, tmp_path):
    bench, meta = _bench_copy(imgedit_bench, tmp_path)
    (bench / "metafile_imgeditbench.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(meta).encode())
    assert len(load_benchmark("imgedit", bench)) == len(meta)


def test_a_source_or_mask_linked_out_of_the_benchmark_is_that_samples_error(gedit_bench, tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(gedit_bench.bench_dir, bench)
    samples = load_benchmark("gedit", bench)
    linked_source, linked_mask = samples[0], samples[1]
    for path, name in ((linked_source.source, "source.png"), (linked_mask.mask, "mask.png")):
        shutil.move(path, tmp_path / name)
        path.symlink_to(tmp_path / name)
    samples = load_benchmark("gedit", bench)  # loading is not refused: reading is
    assert [s.root for s in samples] == [bench] * len(samples)
    with pytest.raises(ImageFileError, match="outside"):
        open_bench_source(samples[0])
    with pytest.raises(ImageFileError, match="outside"):
        load_bench_edit_mask(samples[1])
    assert load_bench_source(samples[1]).shape[0] == 3  # its source is in place

    out = tmp_path / "out"
    args = ["eval", "consistency", "--bench", "gedit", "--bench-dir", str(bench), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--results", str(gedit_bench.results["careful"])])
    assert result.exit_code == 1, result.output
    with open(out / "per_sample.csv", newline="") as f:
        status = {r["key"]: (r["status"], r["error"]) for r in csv.DictReader(f)}
    for sample, name in ((linked_source, "source.png"), (linked_mask, "mask.png")):
        assert status[sample.key][0] == "bench_error" and name in status[sample.key][1], status[sample.key]
    assert sum(s == "ok" for s, _ in status.values()) == gedit_bench.samples - 2
