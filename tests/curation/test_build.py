"""`data build` without a VLM: difference masks, augmentation, area limits, journal, resume rules."""

import json

import pytest
import torch

from cocoedit.core.images import load_edit_mask
from cocoedit.curation.build import run_build, word_overlap
from cocoedit.curation.build_journal import BuildError, RecordLog
from cocoedit.curation.config import BuildConfig
from cocoedit.data.manifest import CandidateSample, read_manifest
from cocoedit.data.rows import prepare_row
from cocoedit.data.validate import validate_manifest

from .conftest import H, W, known_edit


def _config(**update):
    data = {"augment": {"by_type": {"replace": {"dilate_px": 2}}}, "workers": 2}
    data.update(update)
    return BuildConfig.model_validate(data)


def test_build_writes_a_valid_training_manifest_with_known_masks(candidates, tmp_path):
    out = tmp_path / "built"
    summary = run_build(_config(), candidates, out)
    assert summary.counts == {"kept": 8, "dropped": 0, "failed": 0} and summary.total == 8
    report = validate_manifest(out / "manifest.jsonl")
    assert report.ok, [str(p) for p in report.problems]
    samples = read_manifest(out / "manifest.jsonl")
    assert [s.id for s in samples] == [f"pair-{i:03d}" for i in range(8)]  # input order
    for i, s in enumerate(samples):
        y0, x0, y1, x1 = known_edit(i)
        r = 2 if s.edit_type == "replace" else 0  # the replace rule dilates by 2 pixels
        expected = torch.zeros(1, H, W)
        expected[:, max(0, y0 - r) : y1 + r, max(0, x0 - r) : x1 + r] = 1
        assert torch.equal(load_edit_mask(s.mask, s.mask_polarity), expected), s.id
        assert s.metadata["curation"]["mask_area"] == pytest.approx(float(expected.mean()))
        assert s.source.parent == out / "images" and s.target.parent == out / "targets"
    # the trainer's reader takes it as it is
    row = prepare_row(samples[0], 32, 32)
    assert row.source.shape == (3, 32, 32) and row.edit_mask.shape == (1, 32, 32) and row.target is not None


def test_area_limits_drop_with_reasons_and_records_keep_the_details(candidates, tmp_path):
    out = tmp_path / "built"
    # areas: 30..40 rows x 40 columns of 100 x 125 -> 0.096..0.128 before dilation
    summary = run_build(_config(area={"min_fraction": 0.1, "max_fraction": 0.12}), candidates, out)
    records = RecordLog(out / "records.jsonl").load()
    assert len(records) == 8
    dropped = {k: r["reason"] for k, r in records.items() if r["status"] == "dropped"}
    assert set(dropped.values()) <= {"mask_too_small", "mask_too_large"} and dropped
    assert summary.reasons == {reason: list(dropped.values()).count(reason) for reason in set(dropped.values())}
    for r in records.values():
        assert r["stages"]["annotate"] == {"method": "difference"}
        small = r["mask_area"] < 0.1
        assert (r["reason"] == "mask_too_small") == small
    assert len(read_manifest(out / "manifest.jsonl")) == summary.counts["kept"]
    assert json.loads((out / "summary.json").read_text())["counts"] == summary.counts


def test_failed_samples_are_recorded_and_retried_on_request(candidates, tmp_path):
    first = read_manifest(candidates, model=CandidateSample)[0]
    good = first.target.read_bytes()
    first.target.write_bytes(b"truncated")
    out = tmp_path / "built"
    summary = run_build(_config(), candidates, out)
    assert summary.counts == {"kept": 7, "dropped": 0, "failed": 1}
    rec = RecordLog(out / "records.jsonl").load()["pair-000"]
    assert rec["reason"] == "unreadable_image" and "targets/pair-000.png" in rec["error"]
    # a plain re-run does not touch it; --retry-failed does, and the later record wins
    first.target.write_bytes(good)
    assert run_build(_config(), candidates, out).counts["failed"] == 1
    assert run_build(_config(), candidates, out, retry_failed=True).counts == {"kept": 8, "dropped": 0, "failed": 0}


def test_restart_skips_recorded_samples_and_cuts_a_torn_line(candidates, tmp_path):
    out = tmp_path / "built"
    run_build(_config(), candidates, out)
    lines = (out / "records.jsonl").read_text().splitlines(keepends=True)
    # pretend the run died while writing the 6th record
    (out / "records.jsonl").write_text("".join(lines[:5]) + lines[5][:40])
    seen = []
    summary = run_build(_config(), candidates, out, on_start=lambda todo, done: seen.append((todo, len(done))))
    assert seen == [(3, 5)]
    assert summary.counts["kept"] == 8
    ids = [json.loads(line)["id"] for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 8


def test_a_different_config_or_input_is_refused(candidates, tmp_path):
    out = tmp_path / "built"
    run_build(_config(), candidates, out)
    with pytest.raises(BuildError, match="different config"):
        run_build(_config(area={"min_fraction": 0.5}), candidates, out)
    # throughput settings may change between runs
    run_build(_config(workers=1), candidates, out)


def test_a_damaged_journal_is_an_error(candidates, tmp_path):
    out = tmp_path / "built"
    run_build(_config(), candidates, out)
    text = (out / "records.jsonl").read_text()
    (out / "records.jsonl").write_text("oops\n" + text)
    with pytest.raises(BuildError, match=r"records.jsonl:1: not a build record"):
        run_build(_config(), candidates, out)


def test_word_overlap():
    assert word_overlap("make the cat black", "make the black cat on the left sofa black") == 1.0
    assert word_overlap("make the cat black", "paint the dog white") == 0.0
    assert word_overlap("remove the cups", "remove both cup on the table") == 1.0  # plural
    assert word_overlap("do it", "anything") == 1.0
