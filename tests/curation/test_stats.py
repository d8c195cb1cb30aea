"""`data stats`: counts, histograms and the HTML page, from a build journal or a manifest."""

import json

import numpy as np
import pytest
from PIL import Image

from cocoedit.curation.build import run_build
from cocoedit.curation.config import BuildConfig
from cocoedit.curation.stats import StatsError, summarize, write_stats


def _row(status="kept", reason="kept", edit_type="replace", area=0.1, words=5, original=3):
    return {
        "status": status,
        "reason": reason,
        "edit_type": edit_type,
        "mask_area": area,
        "words": words,
        "original_words": original,
    }


def test_summarize_hand_checked():
    rows = [
        _row(area=0.01),
        _row(area=0.049),
        _row(area=0.05, edit_type="add", words=9),
        _row(area=1.0, edit_type=None),
        _row("dropped", "mask_too_small", area=0.0001),
        _row("dropped", "low_clarity", edit_type="add"),
        _row("failed", "filter_timeout", area=None),
    ]
    s = summarize(rows)
    assert s["samples"] == 7 and s["counts"] == {"kept": 4, "dropped": 2, "failed": 1}
    assert s["reasons"] == {"filter_timeout": 1, "low_clarity": 1, "mask_too_small": 1}
    assert s["edit_types_kept"] == {"replace": 2, "add": 1, "(none)": 1}
    assert s["edit_types_all"]["add"] == 2
    hist = s["mask_area"]["histogram"]
    assert len(hist) == 20 and hist[0] == 2 and hist[1] == 1 and hist[19] == 1 and sum(hist) == 4
    assert s["mask_area"]["max"] == 1.0
    assert s["instruction_words"]["mean"] == pytest.approx((5 + 5 + 9 + 5) / 4)
    assert s["original_instruction_words"]["median"] == 3


def test_stats_page_of_a_build(candidates, tmp_path):
    out = tmp_path / "built"
    run_build(BuildConfig.model_validate({"area": {"min_fraction": 0.1}}), candidates, out)
    html_path, stats = write_stats(out)
    assert html_path == out / "stats.html"
    page = html_path.read_text()
    # four plots (reasons, edit types, mask-area histogram, instruction lengths) and example sources
    dropped = stats["reasons"]["mask_too_small"]
    assert page.count('src="data:image/png;base64,') == 4 + min(dropped, 4)
    examples = page.split("<h2>Examples of what was dropped or failed</h2>")[1].split("</section>")[0]
    assert f"<h3>mask_too_small ({dropped})</h3>" in examples and "edit region" in examples
    assert "No sample went through the VLM filter." in page
    assert "mask_too_small" in page and "Edit types" in page
    saved = json.loads((out / "stats.json").read_text())
    assert saved == stats and stats["samples"] == 8
    assert stats["counts"]["dropped"] == stats["reasons"]["mask_too_small"] > 0
    assert sum(stats["mask_area"]["histogram"]) == stats["counts"]["kept"]


def test_stats_of_a_plain_manifest_reads_mask_areas_from_files(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    keep = np.full((10, 10), 255, np.uint8)
    keep[:, :3] = 0  # white = keep: 30% edit
    Image.fromarray(keep).save(tmp_path / "masks" / "a.png")
    (tmp_path / "metadata.jsonl").write_text(
        json.dumps({"prompt": "make it red", "image": "images/a.png", "mask": "masks/a.png"}) + "\n"
    )
    _, stats = write_stats(tmp_path)
    assert stats["mask_area"]["mean"] == pytest.approx(0.3)
    assert stats["instruction_words"]["mean"] == 3
    with pytest.raises(StatsError, match="no records.jsonl, manifest.jsonl or metadata.jsonl"):
        write_stats(tmp_path / "images")


def test_filter_score_histograms_and_examples_from_a_journal(tmp_path):
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(tmp_path / "a.png")
    records = []
    for i, (status, reason, clarity) in enumerate(
        [("kept", "kept", 5), ("kept", "kept", 4), ("dropped", "low_clarity", 2), ("dropped", "low_clarity", 1)]
    ):
        records.append(
            {
                "id": f"s{i}",
                "status": status,
                "reason": reason,
                "edit_type": "add",
                "instruction": f"add a hat {i}",
                "original_instruction": "add a hat",
                "mask_area": 0.2,
                "input_source": str(tmp_path / "a.png"),
                "stages": {"filter": {"scores": {"clarity": clarity, "mask_accuracy": 4, "prominence": 3}}},
            }
        )
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    page_path, stats = write_stats(tmp_path)
    clarity = stats["filter_scores"]["clarity"]
    assert clarity["kept"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}
    assert clarity["dropped"] == {"1": 1, "2": 1, "3": 0, "4": 0, "5": 0}
    assert stats["filter_scores"]["mask_accuracy"]["dropped"]["4"] == 2
    page = page_path.read_text()
    examples = page.split("<h2>Examples of what was dropped or failed</h2>")[1].split("</section>")[0]
    assert "<h3>low_clarity (2)</h3>" in examples and "s2: add a hat 2" in examples and "clarity 2" in examples
    assert examples.count('src="data:image/png;base64,') == 2
    assert 'alt="filter score histograms"' in page
