"""``cocoedit data build``: candidates -> a curated training manifest, crash-safe and resumable.

Per sample, in this order (each stage as configured, :mod:`cocoedit.curation.config`):

1. **annotate** the edit mask: ``difference`` of source and target, VLM ``grounding`` boxes (box
   fill or SAM), or the ``existing`` mask of the input;
2. **augment** it by edit type (dilation, box expansion: :mod:`cocoedit.curation.augment`);
3. check the edit-region **area** share;
4. **refine** the instruction with the VLM (location and attributes, intent kept);
5. **filter** with VLM scores for instruction clarity, mask accuracy, target prominence.

The output folder::

    OUT/records.jsonl     one decision per sample: kept / dropped / failed, the reason, every
                          stage's details and the VLM's raw replies (appended and fsync'ed
                          as each sample finishes: the run's journal)
    OUT/manifest.jsonl    the kept samples, in input order (a manifest: `cocoedit data validate`,
                          `cocoedit train`)
    OUT/images/ targets/ masks/   files of kept samples (masks white = edit)
    OUT/summary.json      counts by status and reason
    OUT/build_config.json the settings that decide outcomes, checked when a run is resumed
    OUT/vlm_cache.sqlite  every VLM reply (the judge cache), so a re-run asks nothing twice

``kept`` and ``dropped`` are decisions; ``failed`` means no decision could be made (an unreadable
image, a VLM that timed out or whose reply did not parse after its retries). Nothing is guessed:
a failed sample is neither kept nor dropped, and is retried by ``retry_failed=True``.

Resuming: a sample's files are written (atomically) before its record is appended, and a record
is the proof that a sample is done. A restarted run reads the journal (cutting off a line torn by
the crash), skips every recorded sample and processes the rest; samples that were in flight are
processed again from the start (their VLM replies come from the cache). The manifest and summary
are rewritten from the journal at the end of every run.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from cocoedit.core.images import ImageFileError, load_edit_mask, open_rgb_image, pil_to_tensor, save_edit_mask
from cocoedit.core.paths import link_or_copy, output_paths_for_ids, safe_file_name
from cocoedit.curation.annotate import boxes_from_reply, difference_mask, parse_box_reply, union_of_boxes
from cocoedit.curation.augment import augment_mask
from cocoedit.curation.build_journal import RECORDS, BuildError, BuildSummary, RecordLog, check_config_record, finalize
from cocoedit.curation.config import BuildConfig
from cocoedit.curation.prompts import (
    FILTER_KEYS,
    MAX_BOXES,
    filter_template,
    grounding_template,
    parse_refined_instruction,
    refine_template,
)
from cocoedit.data.manifest import CandidateSample, ManifestError, read_manifest
from cocoedit.judge.cache import JudgeCache
from cocoedit.judge.evaluate import open_judge

CACHE = "vlm_cache.sqlite"


# ---- text checks --------------------------------------------------------------------------------

_STOP = frozenset("the and with into from that this for its their there then than make turn change".split())


def content_words(text: str) -> set[str]:
    """Lower-case words of 3+ letters, minus a few function words, a trailing plural ``s`` removed."""
    words = re.findall(r"[a-z0-9]{3,}", text.lower())
    return {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words if w not in _STOP}


def word_overlap(original: str, rewrite: str) -> float:
    """Share of the original's :func:`content_words` that the rewrite keeps (1.0 if it has none).
    ``("make the cat black", "make the black cat on the left sofa black")`` -> 1.0."""
    words = content_words(original)
    if not words:
        return 1.0
    return len(words & content_words(rewrite)) / len(words)


def overlay(source: Image.Image, edit_mask: torch.Tensor) -> Image.Image:
    """The source with the edit region (``[1, 1, H, W]``, 1 = edit) tinted red, for the filter."""
    from cocoedit.core.reporting import mask_overlay

    return mask_overlay(source, edit_mask[0])


# ---- the per-sample pipeline ---------------------------------------------------------------------


class _Failed(Exception):
    """No decision for this sample: ``reason`` is counted, ``details`` (raw reply...) stored."""

    def __init__(self, reason: str, message: str, **details: Any):
        super().__init__(message)
        self.reason = reason
        self.details = details


class _Dropped(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _place(src: Path, dest: Path, media: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    if media == "link":
        link_or_copy(src, tmp)
    else:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


class Curator:
    """Runs the stages for one sample at a time; VLM calls go through ``judge`` (may be None when
    no stage needs it), segmentation through ``segmenter(pil, boxes) -> mask`` when configured."""

    def __init__(self, config: BuildConfig, out: Path, judge=None, segmenter: Callable | None = None):
        self.config = config
        self.out = out
        self.judge = judge
        self.segmenter = segmenter

    async def process(self, index: int, sample: CandidateSample) -> dict:
        record: dict[str, Any] = {
            "id": sample.id,
            "index": index,
            "edit_type": sample.edit_type,
            "original_instruction": sample.instruction,
            "instruction": sample.instruction,
            "input_source": str(sample.source),
            "stages": {},
        }
        try:
            await self._run(sample, record)
        except _Dropped as d:
            record.update(status="dropped", reason=d.reason)
        except _Failed as f:
            record.update(status="failed", reason=f.reason, error=str(f))
            record["stages"].setdefault("failure", {}).update(f.details)
        else:
            record.update(status="kept", reason="kept")
        return record

    async def _vlm(self, stage: str, template, images: dict, instruction: str):
        from cocoedit.judge.images import JudgeImage

        outcome = await self.judge.evaluate(template, {k: JudgeImage(v) for k, v in images.items()}, instruction)
        details = {"template": template.ident, "raw": outcome.text, "cached": outcome.cached}
        if not outcome.ok:
            raise _Failed(f"{stage}_{outcome.reason}", f"{stage}: {outcome.error}", stage=stage, **details)
        return outcome, details

    async def _run(self, sample: CandidateSample, record: dict) -> None:
        cfg = self.config
        stages = record["stages"]
        try:
            source_pil = await asyncio.to_thread(lambda: open_rgb_image(sample.source))
            target_pil = None
            if sample.target is not None:
                target_pil = await asyncio.to_thread(lambda: open_rgb_image(sample.target))
        except ImageFileError as e:
            raise _Failed("unreadable_image", str(e)) from None
        size = (source_pil.height, source_pil.width)

        # 1. annotate
        method = cfg.annotate.method
        if method == "difference":
            if target_pil is None:
                raise _Failed("no_target_image", "annotate.method 'difference' needs a target image")
            d = cfg.annotate.difference
            mask = await asyncio.to_thread(
                difference_mask,
                pil_to_tensor(source_pil)[None],
                pil_to_tensor(target_pil)[None],
                d.threshold,
                d.open_radius,
                d.close_radius,
                d.min_component_pixels,
                d.fill_boxes,
            )
            stages["annotate"] = {"method": "difference"}
        elif method == "existing":
            if sample.mask is None:
                raise _Failed("no_mask", "annotate.method 'existing' needs a mask in the input row")
            try:
                mask = (await asyncio.to_thread(load_edit_mask, sample.mask, sample.mask_polarity))[None]
            except ImageFileError as e:
                raise _Failed("unreadable_image", str(e)) from None
            if tuple(mask.shape[-2:]) != size:
                raise _Failed(
                    "mask_size_mismatch",
                    f"mask {sample.mask} is {mask.shape[-1]}x{mask.shape[-2]}, source is {size[1]}x{size[0]}",
                )
            stages["annotate"] = {"method": "existing"}
        else:
            g = cfg.annotate.grounding
            images = {"source": source_pil} | ({"edited": target_pil} if target_pil is not None else {})
            template = grounding_template(target_pil is not None, g.coordinates)
            outcome, details = await self._vlm("grounding", template, images, sample.instruction)
            reply_boxes = parse_box_reply(outcome.text, MAX_BOXES, g.coordinates)
            boxes = boxes_from_reply(reply_boxes, g.coordinates, size)
            stages["annotate"] = {
                "method": "grounding",
                "segmenter": g.segmenter,
                "boxes_yxyx": boxes.tolist(),
                **details,
            }
            if not reply_boxes:
                raise _Dropped("no_target_found")
            if g.segmenter == "sam":
                mask = await asyncio.to_thread(self.segmenter, source_pil, boxes)
            else:
                mask = union_of_boxes(boxes, size)
        if not mask.any():
            raise _Dropped("empty_mask")

        # 2. augment, 3. area
        rule = cfg.augment.rule_for(sample.edit_type)
        mask = await asyncio.to_thread(augment_mask, mask, rule)
        stages["augment"] = {"edit_type": cfg.augment.canonical_type(sample.edit_type), **rule.model_dump()}
        area = float(mask.mean())
        record["mask_area"] = area
        if area < cfg.area.min_fraction:
            raise _Dropped("mask_too_small")
        if area > cfg.area.max_fraction:
            raise _Dropped("mask_too_large")

        # 4. refine
        instruction = sample.instruction
        if cfg.refine.enabled:
            _, details = await self._vlm("refine", refine_template(), {"source": source_pil}, instruction)
            rewrite = parse_refined_instruction(details["raw"])
            overlap = word_overlap(instruction, rewrite)
            accepted = overlap >= cfg.refine.min_word_overlap
            stages["refine"] = {"rewrite": rewrite, "word_overlap": overlap, "accepted": accepted, **details}
            if accepted:
                instruction = rewrite
        record["instruction"] = instruction

        # 5. filter
        if cfg.filter.enabled:
            images = {"source": source_pil, "mask_overlay": overlay(source_pil, mask)}
            outcome, details = await self._vlm("filter", filter_template(), images, instruction)
            scores = {k: outcome.scores[k] for k in FILTER_KEYS}
            stages["filter"] = {"scores": scores, **details}
            for key in FILTER_KEYS:
                if scores[key] < cfg.filter.min_scores.get(key, 0):
                    raise _Dropped(f"low_{key}")

        await asyncio.to_thread(self._write_files, sample, mask, record)

    def _write_files(self, sample: CandidateSample, mask: torch.Tensor, record: dict) -> None:
        files = {
            "source": self.out / "images" / safe_file_name(sample.id, sample.source.suffix.lower()),
            "mask": self.out / "masks" / safe_file_name(sample.id, ".png"),
        }
        _place(sample.source, files["source"], self.config.media)
        if sample.target is not None:
            files["target"] = self.out / "targets" / safe_file_name(sample.id, sample.target.suffix.lower())
            _place(sample.target, files["target"], self.config.media)
        tmp = files["mask"].with_name(f".{files['mask'].name}.tmp.png")
        save_edit_mask(mask[0], tmp, "white_is_edit")
        os.replace(tmp, files["mask"])
        record["files"] = {k: p.relative_to(self.out).as_posix() for k, p in files.items()}
        record["metadata"] = sample.metadata


# ---- the run -------------------------------------------------------------------------------------


def run_build(
    config: BuildConfig,
    in_manifest: str | Path,
    out: str | Path,
    retry_failed: bool = False,
    on_start: Callable[[int, dict[str, dict]], None] | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> BuildSummary:
    """Process every sample of ``in_manifest`` that ``out`` has no record of yet.

    ``on_start(todo, done_records)`` is called once before processing, ``on_record(record)``
    after each sample's record is written.
    """
    in_manifest, out = Path(in_manifest), Path(out)
    try:
        candidates = read_manifest(in_manifest, model=CandidateSample)
    except ManifestError as e:
        raise BuildError(str(e)) from None
    output_paths_for_ids(out / "masks", (c.id for c in candidates), ".png")  # two ids, one file: refused now
    if config.needs_vlm and not config.vlm.endpoint.model:
        raise BuildError("this config calls a VLM (grounding, refine or filter): give --model (or vlm.endpoint.model)")
    check_config_record(out, config, in_manifest)
    out.mkdir(parents=True, exist_ok=True)
    log = RecordLog(out / RECORDS)
    done = log.load()
    todo = [
        (i, s)
        for i, s in enumerate(candidates)
        if s.id not in done or (retry_failed and done[s.id]["status"] == "failed")
    ]
    if on_start is not None:
        on_start(len(todo), done)

    segmenter = None
    if config.annotate.method == "grounding" and config.annotate.grounding.segmenter == "sam":
        from cocoedit.curation.segment import SamSegmenter

        g = config.annotate.grounding
        segmenter = SamSegmenter(g.sam_model, device=g.device)

    async def main() -> None:
        judge = None
        if config.needs_vlm and todo:
            judge = await open_judge(config.vlm, cache=JudgeCache(config.vlm.cache_path or out / CACHE))
        check_config_record(out, config, in_manifest, write=True)
        try:
            curator = Curator(config, out, judge, segmenter)
            queue = iter(todo)

            async def worker() -> None:
                # Each worker pulls the next sample; the journal is appended from the event loop
                # thread only, so records never interleave.
                for i, s in queue:
                    record = await curator.process(i, s)
                    log.append(record)
                    done[record["id"]] = record
                    if on_record is not None:
                        on_record(record)

            async with asyncio.TaskGroup() as group:  # a bug in one sample stops the run loudly
                for _ in range(min(config.workers, len(todo))):
                    group.create_task(worker())
        finally:
            if judge is not None:
                await judge.aclose()

    asyncio.run(main())
    return finalize(out, done, len(candidates))
