"""Benchmark layouts: GEdit and ImgEdit folders, tolerant metafiles, result paths."""

import json
import logging
import shutil

import pytest

from cocoedit.eval.benchmarks import BenchmarkError, load_bench_edit_mask, load_benchmark, result_path


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


def test_imgedit_one_sample_per_metafile_key_with_shared_sources(imgedit_bench):
    samples = load_benchmark("imgedit", imgedit_bench.bench_dir)
    assert sorted(int(s.key) for s in samples) == [1, 2, 3, 4, 5, 6]
    assert {s.category for s in samples} == {"adjust", "remove", "style"}
    assert all(s.result_relpath == f"{s.key}.png" for s in samples)
    by_key = {s.key: s for s in samples}
    # keys 1 and 2 edit one source with one mask and two instructions
    assert by_key["1"].source == by_key["2"].source and by_key["1"].mask == by_key["2"].mask
    assert by_key["1"].instruction != by_key["2"].instruction
    assert len({s.source for s in samples}) == 3
    # the metafile says "daily object/kitchen/000003.jpg"; the file is a PNG one folder deeper
    nested = by_key["3"].source.relative_to(imgedit_bench.bench_dir).as_posix()
    assert nested == "singleturn/daily object/kitchen/000003.png"
    assert by_key["3"].extra["folder"] == "daily object"
    assert by_key["3"].mask.name == "000003_mask.png"


def _copy(imgedit_bench, tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(imgedit_bench.bench_dir, bench)
    return bench, json.loads((bench / "metafile_imgeditbench.json").read_text())


def test_imgedit_keys_whose_source_is_missing_are_named(tmp_path, imgedit_bench):
    bench, meta = _copy(imgedit_bench, tmp_path)
    meta["2"]["id"] = "animal/999999.jpg"
    meta["7"] = {"prompt": "no id at all", "edit_type": "add"}
    (bench / "metafile_imgeditbench.json").write_text(json.dumps(meta))
    with pytest.raises(BenchmarkError, match=r"2 of 7 keys .* 2 \(animal/999999.jpg\), 7 \(no id\)"):
        load_benchmark("imgedit", bench)


def test_imgedit_files_no_key_names_are_reported(tmp_path, imgedit_bench, caplog):
    bench, meta = _copy(imgedit_bench, tmp_path)
    shutil.copy(bench / "singleturn/human/000005.png", bench / "singleturn/human/000777.png")
    with caplog.at_level(logging.WARNING, logger="cocoedit"):
        samples = load_benchmark("imgedit", bench)
    assert len(samples) == 6
    assert "1 source images match no key" in caplog.text and "human/000777" in caplog.text


def test_imgedit_source_paths_with_prefix_or_bare_names(tmp_path, imgedit_bench):
    bench, meta = _copy(imgedit_bench, tmp_path)
    meta["1"]["id"] = "singleturn/animal/000001.png"
    meta["3"]["id"] = "000003"  # a bare name, unique among the files
    (bench / "metafile_imgeditbench.json").write_text(json.dumps(meta))
    by_key = {s.key: s for s in load_benchmark("imgedit", bench)}
    assert by_key["1"].source.name == "000001.png" and by_key["3"].source.name == "000003.png"


def test_mask_polarity_white_is_keep(gedit_bench):
    s = load_benchmark("gedit", gedit_bench.bench_dir)[0]
    edit = load_bench_edit_mask(s)
    assert 0.05 < edit.mean() < 0.5  # the generated edit regions are the smaller part


def test_metafile_as_list_with_other_field_names(tmp_path, imgedit_bench):
    bench, meta = _copy(imgedit_bench, tmp_path)
    as_list = [
        {"key": k, "image": v["id"], "edit_instruction": v["prompt"], "type": v["edit_type"]} for k, v in meta.items()
    ]
    (bench / "metafile_imgeditbench.json").write_text(json.dumps(as_list))
    samples = load_benchmark("imgedit", bench)
    assert len(samples) == 6 and {s.category for s in samples} == {"adjust", "remove", "style"}
    assert all(s.instruction for s in samples)


def test_without_metafile_one_sample_per_image_keyed_by_stem(tmp_path, imgedit_bench):
    bench, _ = _copy(imgedit_bench, tmp_path)
    (bench / "metafile_imgeditbench.json").unlink()
    samples = load_benchmark("imgedit", bench)
    assert sorted(s.key for s in samples) == ["000001", "000003", "000005"]
    assert all(s.instruction is None for s in samples)
    assert {s.category for s in samples} == {"animal", "daily object", "human"}


def test_gedit_metafile_without_intersection_flags_warns_and_has_none(tmp_path, gedit_bench, caplog):
    bench = tmp_path / "bench"
    shutil.copytree(gedit_bench.bench_dir, bench)
    meta = json.loads((bench / "metafile_geditbench.json").read_text())
    for record in meta.values():
        del record["Intersection_exist"]
    (bench / "metafile_geditbench.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="cocoedit"):
        samples = load_benchmark("gedit", bench)
    assert all(s.extra["intersection"] is None for s in samples)
    assert "6 of 6 samples have no intersection flag" in caplog.text


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
