"""MLLM-judge scores of results folders on GEdit-Bench and ImgEdit-Bench, aggregated as they do.

* **GEdit** (VIEScore, Step1X-Edit's ``calculate_statistics.py``): per sample SC = min of the
  two SC scores, PQ = min of the two PQ scores, O = sqrt(SC·PQ); per category the mean of each
  over scored samples; **overall = unweighted mean of the category means**. Reported per
  language and for the full set and the ``Intersection`` subset (``None``, no table, when the
  metafile has no intersection flags). The edited image is resized to the source size before
  judging, as GEdit does.
* **ImgEdit** (``step1_get_avgscore.py`` / ``step2_typescore.py``): per sample the mean of the
  three 1–5 criteria; per edit type the mean; **overall = mean of the type means** (the papers'
  "Overall"; the official scripts stop at per-type).

A sample whose judge calls did not all succeed is counted as ``failed`` with its reason and is
left out of every mean; nothing is imputed. Counts of scored / missing / unreadable / failed
samples are part of the summary, so two tables are only compared when their coverage is.

Per sample the sub-scores are kept too (GEdit: ``success`` and ``overedit`` of SC,
``naturalness`` and ``artifacts`` of PQ; ImgEdit: the three criteria ``c1``-``c3``), with the
judge's reasoning (the reply's ``reasoning`` field or ``Reasoning:`` line; GEdit: ``SC: ...`` and
``PQ: ...`` on two lines).

Outputs in ``out``: ``judge_summary.json``, ``judge_per_sample.csv``, ``judge_replies.jsonl``
(every raw reply from the cache). Names do not collide with ``cocoedit eval consistency``'s, so
both may share one folder; :func:`write_judge_report` builds the merged ``report.html``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from cocoedit.core.errors import UNPARSABLE, explain_failures
from cocoedit.core.images import ImageFileError, open_rgb_image
from cocoedit.core.paths import write_text_atomic
from cocoedit.eval.benchmarks import BenchmarkError, BenchName, BenchSample, open_bench_source, result_path
from cocoedit.eval.consistency import results_labels
from cocoedit.judge.evaluate import Judge
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.parsing import ReplyParseError, json_object
from cocoedit.judge.prompts import JudgeTemplate, gedit_templates, imgedit_template_for, imgedit_templates

SUMMARY_FILE = "judge_summary.json"
PER_SAMPLE_FILE = "judge_per_sample.csv"
REPLIES_FILE = "judge_replies.jsonl"
IMGEDIT_TYPE_COUNT = 9
SCORE_COLUMNS = ("sc", "pq", "o", "success", "overedit", "naturalness", "artifacts", "score", "c1", "c2", "c3")
GEDIT_SUBSCORES = ("success", "overedit", "naturalness", "artifacts")
CSV_COLUMNS = (
    "results",
    "key",
    "category",
    "language",
    "intersection",
    "status",
    "reason",
    *SCORE_COLUMNS,
    "reasoning",
    "error",
)


@dataclass
class JudgedSample:
    """One (results folder, sample) row. ``status``: scored, missing, unreadable or failed."""

    results: str
    key: str
    category: str
    language: str | None
    intersection: bool | None  # None: the benchmark's metafile has no intersection flags
    status: str
    reason: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    error: str = ""
    reasoning: str = ""


def reply_reasoning(text: str | None) -> str:
    """The judge's stated reasoning in a reply: a JSON ``reasoning`` field or a ``Reasoning:`` line."""
    if not text:
        return ""
    try:
        obj = json_object(text)
    except ReplyParseError:
        obj = {}
    for key, value in obj.items():
        if isinstance(key, str) and key.strip().lower() == "reasoning" and isinstance(value, str):
            return value.strip()
    for line in text.splitlines():
        head, _, rest = line.partition(":")
        if head.strip().strip("*").lower() == "reasoning":
            return rest.strip()
    return ""


def templates_for(bench: BenchName, official_prompts: str | Path | None) -> dict[str, JudgeTemplate]:
    return gedit_templates(official_prompts) if bench == "gedit" else imgedit_templates(official_prompts)


def _load_pair(sample: BenchSample, results_dir: Path, bench: BenchName) -> tuple[JudgeImage, JudgeImage]:
    source = open_bench_source(sample)
    edited = open_rgb_image(result_path(results_dir, sample), root=results_dir)
    if bench == "gedit" and edited.size != source.size:
        edited = edited.resize(source.size, Image.LANCZOS)
    return JudgeImage(source), JudgeImage(edited)


async def _judge_one(
    bench: BenchName,
    sample: BenchSample,
    label: str,
    results_dir: Path,
    judge: Judge,
    templates: Mapping[str, JudgeTemplate],
) -> JudgedSample:
    row = JudgedSample(label, sample.key, sample.category, sample.language, sample.extra.get("intersection"), "scored")
    if not result_path(results_dir, sample).is_file():
        row.status, row.reason = "missing", "missing"
        return row
    try:
        source, edited = await asyncio.to_thread(_load_pair, sample, results_dir, bench)
    except ImageFileError as e:
        row.status, row.reason, row.error = "unreadable", "unreadable", str(e)
        return row
    images = {"source": source, "edited": edited}
    if bench == "gedit":
        sc, pq = await asyncio.gather(
            judge.evaluate(templates["sc"], images, sample.instruction),
            judge.evaluate(templates["pq"], images, sample.instruction),
        )
        bad = [(name, o) for name, o in (("sc", sc), ("pq", pq)) if not o.ok]
        if bad:
            row.status = "failed"
            row.reason = "+".join(f"{name}:{o.reason}" for name, o in bad)
            row.error = " | ".join(f"{name}: {o.error}; reply: {o.text!r}" for name, o in bad)
            return row
        row.scores = {
            "sc": sc.primary,
            "pq": pq.primary,
            "o": math.sqrt(sc.primary * pq.primary),
            **{k: v for k, v in {**sc.scores, **pq.scores}.items() if k in GEDIT_SUBSCORES},
        }
        row.reasoning = f"SC: {reply_reasoning(sc.text)}\nPQ: {reply_reasoning(pq.text)}"
    else:
        outcome = await judge.evaluate(imgedit_template_for(templates, sample.category), images, sample.instruction)
        if not outcome.ok:
            row.status, row.reason = "failed", outcome.reason
            row.error = f"{outcome.error}; reply: {outcome.text!r}"
            return row
        row.scores = {k: outcome.scores[k] for k in ("score", "c1", "c2", "c3")}
        row.reasoning = reply_reasoning(outcome.text)
    return row


async def judge_results(
    bench: BenchName,
    samples: Sequence[BenchSample],
    results_dirs: Sequence[Path],
    judge: Judge,
    templates: Mapping[str, JudgeTemplate],
    progress: Callable[[int], None] | None = None,
    max_in_flight: int = 128,
) -> list[JudgedSample]:
    """Judge every sample in every results folder, at most ``max_in_flight`` at a time.

    The backend bounds concurrent requests; ``max_in_flight`` bounds how many decoded image
    pairs wait for it.
    """
    if bench == "imgedit":
        for s in samples:  # fail before any request when a type has no prompt
            imgedit_template_for(templates, s.category)
    no_instruction = [s.key for s in samples if not s.instruction]
    if no_instruction:
        raise BenchmarkError(
            f"{len(no_instruction)} sample(s) have no instruction (first: {no_instruction[:3]}); "
            "the benchmark's metafile must give one per sample"
        )
    labels = results_labels(list(results_dirs))
    slots = asyncio.Semaphore(max_in_flight)

    async def task(sample: BenchSample, label: str, results_dir: Path) -> JudgedSample:
        async with slots:
            row = await _judge_one(bench, sample, label, results_dir, judge, templates)
        if progress is not None:
            progress(1)
        return row

    return list(
        await asyncio.gather(
            *[task(s, label, Path(d)) for label, d in zip(labels, results_dirs, strict=True) for s in samples]
        )
    )


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _category_table(rows: Sequence[JudgedSample], metrics: Sequence[str]) -> dict[str, Any]:
    """Per-category means of ``metrics`` over scored rows, and overall = mean of category means.

    The GEdit sub-scores are added when the rows hold them.
    """
    metrics = tuple(metrics) + tuple(
        m for m in GEDIT_SUBSCORES if m not in metrics and any(m in r.scores for r in rows if r.status == "scored")
    )
    per_category: dict[str, dict[str, Any]] = {}
    for cat in sorted({r.category for r in rows}):
        scored = [r for r in rows if r.category == cat and r.status == "scored"]
        per_category[cat] = {
            "n": len(scored),
            **{m: _mean([r.scores[m] for r in scored if m in r.scores]) for m in metrics},
        }
    present = [c for c in per_category.values() if c["n"]]
    overall = {m: _mean([c[m] for c in present]) for m in metrics}
    return {"overall": overall, "categories_scored": len(present), "per_category": per_category}


def _counts(rows: Sequence[JudgedSample]) -> dict[str, int]:
    c = Counter(r.status for r in rows)
    return {"samples": len(rows), **{k: c.get(k, 0) for k in ("scored", "missing", "unreadable", "failed")}}


def aggregate(bench: BenchName, rows: Sequence[JudgedSample]) -> dict[str, Any]:
    """Summary of one results folder's rows (see the module docstring for the rules).

    ``headline`` is the single judge number the benchmark reports: GEdit O on the full set in
    English (else the first language present), ImgEdit overall.
    """
    out: dict[str, Any] = {
        "counts": _counts(rows),
        "failure_reasons": dict(Counter(r.reason for r in rows if r.status == "failed").most_common()),
        "unjudged": [
            {"key": r.key, "status": r.status, "reason": r.reason, "error": r.error}
            for r in rows
            if r.status != "scored"
        ],
    }
    if bench == "gedit":
        languages = sorted({r.language or "" for r in rows})
        out["per_language"] = {
            lang: {
                "full": _category_table([r for r in rows if (r.language or "") == lang], ("sc", "pq", "o")),
                "intersection": None
                if any(r.intersection is None for r in rows)
                else _category_table(
                    [r for r in rows if (r.language or "") == lang and r.intersection], ("sc", "pq", "o")
                ),
            }
            for lang in languages
        }
        lang = "en" if "en" in languages else languages[0]
        out["headline"] = {
            "metric": f"GEdit O ({lang}, full set)",
            "value": out["per_language"][lang]["full"]["overall"]["o"],
        }
    else:
        table = _category_table(rows, ("score", "c1", "c2", "c3"))
        out.update(table)
        out["all_types_present"] = table["categories_scored"] == IMGEDIT_TYPE_COUNT
        out["headline"] = {"metric": "ImgEdit overall", "value": table["overall"]["score"]}
    return out


def write_judge_outputs(
    out_dir: Path,
    bench: BenchName,
    bench_dir: Path,
    results_dirs: Sequence[Path],
    rows: Sequence[JudgedSample],
    judge_info: Mapping[str, Any],
) -> dict[str, Any]:
    """Write ``judge_summary.json`` and ``judge_per_sample.csv``; return the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = results_labels(list(results_dirs))
    summary = {
        "bench": bench,
        "bench_dir": str(bench_dir),
        "judge": dict(judge_info),
        "results": {
            label: {"dir": str(d), **aggregate(bench, [r for r in rows if r.results == label])}
            for label, d in zip(labels, results_dirs, strict=True)
        },
    }
    write_text_atomic(out_dir / SUMMARY_FILE, json.dumps(summary, indent=1))
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for r in rows:
        rec = asdict(r)
        scores = rec.pop("scores")
        writer.writerow({**rec, **{k: scores.get(k, "") for k in SCORE_COLUMNS}})
    write_text_atomic(out_dir / PER_SAMPLE_FILE, table.getvalue())
    return summary


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unjudged_beyond(summary: dict[str, Any], allowed_fraction: float, examples: int = 3) -> list[str]:
    """One sentence per results folder where more than ``allowed_fraction`` of the samples got no
    judge score (failed, missing or unreadable), with the counts, the failure reasons and the first
    ``examples`` samples with theirs."""
    out = []
    for label, res in summary["results"].items():
        c = res["counts"]
        unjudged = c["samples"] - c["scored"]
        if unjudged and unjudged > allowed_fraction * c["samples"]:
            reasons = ", ".join(f"{r} x{n}" for r, n in res.get("failure_reasons", {}).items())
            named = [
                f"{u['key']}: {u['reason']}" + (f" ({_short(u['error'])})" if u["error"] else "")
                for u in res.get("unjudged", [])
            ]
            more = f" (+{len(named) - examples} more)" if len(named) > examples else ""
            out.append(
                f"results {label!r}: {unjudged} of {c['samples']} samples not judged (failed {c['failed']}"
                + (f": {reasons}" if reasons else "")
                + f"; missing {c['missing']}; unreadable {c['unreadable']})"
                + (": " + "; ".join(named[:examples]) + more if named else "")
                + _explanations(res.get("unjudged", []))
            )
    return out


def _explanations(unjudged: Sequence[dict[str, Any]]) -> str:
    """The last failure the server explained (an HTTP error, a timeout...) and one unparsable
    reply (:func:`~cocoedit.core.errors.explain_failures`): what the first three examples may not
    show. A sample's reasons are ``+``-joined, one per failed criterion."""
    pairs = []
    for u in unjudged:
        if u["status"] == "failed" and u["error"]:
            reasons = u["reason"].split("+")
            if any(not r.endswith(UNPARSABLE) for r in reasons):
                pairs.append(("server", u["error"]))
            if any(r.endswith(UNPARSABLE) for r in reasons):
                pairs.append((UNPARSABLE, u["error"]))
    return explain_failures(pairs)
