"""`data build` with VLM stages (grounding boxes, refinement, filtering) against a real HTTP server."""

import json
import re

import torch

from cocoedit.core.images import load_edit_mask
from cocoedit.curation.build import run_build
from cocoedit.curation.build_journal import RecordLog
from cocoedit.curation.config import BuildConfig
from cocoedit.data.manifest import read_manifest
from cocoedit.data.validate import validate_manifest
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply

from .conftest import H, W, images_in, known_box_reply, known_edit, prompt_of


def _sample_of(prompt: str) -> int:
    return int(re.search(r"object number (\d+)", prompt).group(1))


def script(body, index):
    prompt = prompt_of(body)
    i = _sample_of(prompt)
    if "bounding box" in prompt:
        if i == 5:
            return ScriptedReply(text='{"boxes": []}')
        if i == 6:
            return ScriptedReply(text="It is the thing in the middle.")
        return ScriptedReply(text=known_box_reply(i))
    if "Rewrite the instruction" in prompt:
        if i == 2:
            return ScriptedReply(text='{"instruction": "paint a dog"}')
        return ScriptedReply(
            text=json.dumps({"instruction": f"change the square object number {i} near the top to something else"})
        )
    accuracy = 2 if i == 3 else 4
    return ScriptedReply(text=f"Instruction clarity: 4\nMask accuracy: {accuracy}\nTarget prominence: 5")


def _config(server, **update):
    data = {
        "annotate": {"method": "grounding"},
        "refine": {"enabled": True},
        "filter": {"enabled": True},
        "vlm": {"endpoint": {"model": server.model, "base_url": server.base_url}, "parse_retries": 1},
        "workers": 3,
    }
    data.update(update)
    return BuildConfig.model_validate(data)


def test_grounding_refine_filter_decisions_are_stored_with_raw_replies(candidates, tmp_path):
    out = tmp_path / "built"
    with ScriptedJudgeServer(script) as server:
        summary = run_build(_config(server), candidates, out)
        requests = list(server.requests)
    assert summary.counts == {"kept": 5, "dropped": 2, "failed": 1}
    assert summary.reasons == {"grounding_unparsable": 1, "low_mask_accuracy": 1, "no_target_found": 1}
    records = RecordLog(out / "records.jsonl").load()

    failed = records["pair-006"]
    assert failed["status"] == "failed"
    assert failed["stages"]["failure"]["raw"] == "It is the thing in the middle."
    assert failed["stages"]["failure"]["template"] == "curation-grounding-pair-norm1000@1"
    assert records["pair-003"]["stages"]["filter"]["scores"] == {"clarity": 4, "mask_accuracy": 2, "prominence": 5}
    assert records["pair-005"]["stages"]["annotate"]["raw"] == '{"boxes": []}'

    refine = records["pair-002"]["stages"]["refine"]
    assert refine["accepted"] is False and refine["rewrite"] == "paint a dog" and refine["raw"]
    kept = {s.id: s for s in read_manifest(out / "manifest.jsonl")}
    assert sorted(kept) == ["pair-000", "pair-001", "pair-002", "pair-004", "pair-007"]
    assert kept["pair-002"].instruction == "change the object number 2 to something else"  # rewrite rejected
    assert kept["pair-000"].instruction == "change the square object number 0 near the top to something else"
    assert (
        kept["pair-000"].metadata["curation"]["original_instruction"] == "change the object number 0 to something else"
    )
    for sid, s in kept.items():
        y0, x0, y1, x1 = known_edit(int(sid[-3:]))
        expected = torch.zeros(1, H, W)
        expected[:, y0:y1, x0:x1] = 1
        assert torch.equal(load_edit_mask(s.mask, s.mask_polarity), expected), sid
    assert validate_manifest(out / "manifest.jsonl").ok

    # what the VLM was shown: grounding source + target, refine the source, filter source + overlay
    by_stage = {"bounding box": 2, "Rewrite the instruction": 1, "tinted red": 2}
    for body in requests:
        [(stage, n)] = [(k, v) for k, v in by_stage.items() if k in prompt_of(body)]
        assert images_in(body) == n, stage
    filter_prompts = [prompt_of(b) for b in requests if "tinted red" in prompt_of(b)]
    assert any("near the top" in p for p in filter_prompts)  # the filter judges the refined instruction


def test_the_reply_cache_makes_a_rerun_free(candidates, tmp_path):
    out = tmp_path / "built"
    with ScriptedJudgeServer(script) as server:
        run_build(_config(server), candidates, out)
        first = len(server.requests)
        # start over in the same folder: decisions are redone, replies come from the cache
        (out / "records.jsonl").unlink()
        again = run_build(_config(server), candidates, out)
        new = server.requests[first:]
    assert again.counts == {"kept": 5, "dropped": 2, "failed": 1}
    # only the unparsable grounding reply is asked again (failed replies are never cached as answers)
    assert len(new) == 2 and all("object number 6" in prompt_of(b) for b in new)


def test_a_vlm_config_without_a_model_is_refused(candidates, tmp_path):
    import pytest

    from cocoedit.curation.build_journal import BuildError

    with pytest.raises(BuildError, match="give --model"):
        run_build(BuildConfig.model_validate({"filter": {"enabled": True}}), candidates, tmp_path / "out")
