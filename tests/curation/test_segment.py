"""SAM plumbing with a tiny random SAM built offline: boxes in, full-size binary masks out, in a build."""

import pytest
import torch

from cocoedit.core.images import load_edit_mask, open_image
from cocoedit.curation.build import run_build
from cocoedit.curation.build_journal import RecordLog
from cocoedit.curation.config import BuildConfig
from cocoedit.curation.segment import SamSegmenter, SegmenterError
from cocoedit.data.manifest import read_manifest
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply
from cocoedit.testing.sam import save_tiny_sam

from .conftest import known_box_reply, prompt_of

pytestmark = pytest.mark.slow  # builds and loads a transformers model (~10 s)


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory):
    return save_tiny_sam(tmp_path_factory.mktemp("sam") / "tiny-sam")


class _Recorder:
    """Wraps the processor to see what the segmenter hands to SAM."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return self.inner(**kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_boxes_reach_sam_as_xyxy_and_masks_come_back_full_size(tiny_sam, astronaut):
    seg = SamSegmenter(tiny_sam)
    seg.processor = _Recorder(seg.processor)
    from cocoedit.core.images import tensor_to_pil

    image = tensor_to_pil(astronaut[0, :, :100, :125])
    mask = seg(image, torch.tensor([[10, 20, 40, 60], [50, 70, 90, 120]]))
    assert seg.processor.calls[0]["input_boxes"] == [[[20.0, 10.0, 60.0, 40.0], [70.0, 50.0, 120.0, 90.0]]]
    assert mask.shape == (1, 1, 100, 125) and set(mask.unique().tolist()) <= {0.0, 1.0}
    assert seg(image, torch.zeros(0, 4, dtype=torch.int64)).sum() == 0
    with pytest.raises(SegmenterError, match="no config.json"):
        SamSegmenter(tiny_sam.parent / "missing")


def test_build_with_the_sam_segmenter(tiny_sam, candidates, tmp_path):
    def reply(body, index):
        i = int(prompt_of(body).split("object number ")[1].split()[0])
        return ScriptedReply(text=known_box_reply(i))

    out = tmp_path / "built"
    with ScriptedJudgeServer(reply) as server:
        config = BuildConfig.model_validate(
            {
                "annotate": {"method": "grounding", "grounding": {"segmenter": "sam", "sam_model": str(tiny_sam)}},
                "area": {"min_fraction": 0.0, "max_fraction": 1.0},
                "vlm": {"endpoint": {"model": server.model, "base_url": server.base_url}},
                "workers": 2,
            }
        )
        summary = run_build(config, candidates, out)
    records = RecordLog(out / "records.jsonl").load()
    assert summary.processed == 8 and summary.counts["failed"] == 0
    assert all(r["stages"]["annotate"]["segmenter"] == "sam" for r in records.values())
    assert set(summary.reasons) <= {"empty_mask"}  # random weights may segment nothing...
    assert summary.counts["kept"] > 0  # ...but with seed 0 they segment something
    seg = SamSegmenter(tiny_sam)
    for s in read_manifest(out / "manifest.jsonl"):
        boxes = torch.tensor(records[s.id]["stages"]["annotate"]["boxes_yxyx"])
        expected = seg(open_image(s.source).convert("RGB"), boxes)[0]
        assert torch.equal(load_edit_mask(s.mask, s.mask_polarity), expected), s.id
