"""Benchmark layouts: GEdit and ImgEdit folders, tolerant metafiles, result paths."""

import json

import pytest

from cocoedit.eval.benchmarks import (
    BenchmarkError,
    load_bench_edit_mask,
    load_benchmark,
    result_path,
)


def test_gedit_layout(gedit_bench):
    samples = load_benchmark("gedit", gedit_bench.bench_dir)
    assert len(samples) == gedit_bench.samples == 6
    assert {s.category for s in samples} == {"color_alter", "subject-remove", "tone_transfer"}
    s = samples[0]
    assert s.key == f"{s.category}/en/{s.source.stem}" and s.language == "en"
    assert s.result_relpath == f"fullset/{s.category}/en/{s.source.stem}.png"
    assert s.instruction and s.mask.name == f"{s.source.stem}_mask.png"
    assert result_path(gedit_bench.results["careful"], s).is_file()
    assert sum(x.extra["intersection"] for x in samples) == 3


def test_imgedit_layout_uses_metafile_keys_and_edit_types(imgedit_bench):
    samples = load_benchmark("imgedit", imgedit_bench.bench_dir)
    assert len(samples) == 6
    assert {s.category for s in samples} == {"adjust", "remove", "style"}
    assert {s.extra["folder"] for s in samples} == {"animal", "daily object", "human"}
    keys = sorted(int(s.key) for s in samples)
    assert keys == [1, 2, 3, 4, 5, 6]
    assert all(s.result_relpath == f"{s.key}.png" for s in samples)


def test_mask_polarity_white_is_keep(gedit_bench):
    s = load_benchmark("gedit", gedit_bench.bench_dir)[0]
    edit = load_bench_edit_mask(s)
    assert 0.05 < edit.mean() < 0.5  # the generated edit regions are the smaller part


def test_metafile_as_list_with_other_field_names(tmp_path, imgedit_bench):
    import shutil

    bench = tmp_path / "bench"
    shutil.copytree(imgedit_bench.bench_dir, bench)
    meta = json.loads((bench / "metafile_imgeditbench.json").read_text())
    as_list = [{"key": k, "image": v["id"], "edit_instruction": v["prompt"], "type": v["edit_type"]} for k, v in meta.items()]
    (bench / "metafile_imgeditbench.json").write_text(json.dumps(as_list))
    samples = load_benchmark("imgedit", bench)
    assert {s.category for s in samples} == {"adjust", "remove", "style"}
    assert all(s.instruction for s in samples)


def test_without_metafile_keys_are_file_stems(tmp_path, imgedit_bench):
    import shutil

    bench = tmp_path / "bench"
    shutil.copytree(imgedit_bench.bench_dir, bench)
    (bench / "metafile_imgeditbench.json").unlink()
    samples = load_benchmark("imgedit", bench)
    assert sorted(s.key for s in samples) == [f"{i:06d}" for i in range(1, 7)]
    assert all(s.instruction is None for s in samples)
    assert {s.category for s in samples} == {"animal", "daily object", "human"}


def test_layout_errors_are_clear(tmp_path, gedit_bench):
    with pytest.raises(BenchmarkError, match="no 'fullset' folder"):
        load_benchmark("gedit", tmp_path)
    with pytest.raises(BenchmarkError, match="benchmark folder not found"):
        load_benchmark("imgedit", tmp_path / "nope")
    with pytest.raises(BenchmarkError, match="unknown benchmark"):
        load_benchmark("geditbench", gedit_bench.bench_dir)
    (tmp_path / "singleturn" / "a").mkdir(parents=True)
    (tmp_path / "metafile_imgeditbench.json").write_text("{oops")
    with pytest.raises(BenchmarkError, match="metafile_imgeditbench.json: bad JSON"):
        load_benchmark("imgedit", tmp_path)
