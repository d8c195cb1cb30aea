"""``cocoedit data stats``: edit types, mask areas, instruction lengths, kept/dropped by reason,
example images per drop reason and the VLM filter's score histograms (kept against dropped).

Reads a ``cocoedit data build`` output folder (its ``records.jsonl`` journal: every decision) or,
for any other dataset, a manifest (a row counts as kept when it parses and its files read, else as
``unreadable``, named with its line and reason; mask areas are read from the mask files). Writes
``stats.json`` and ``stats.html`` (tables and matplotlib plots) next to it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from cocoedit.core.errors import CocoEditError
from cocoedit.core.images import ImageFileError, load_edit_mask, open_image
from cocoedit.core.pages import render
from cocoedit.core.paths import write_text_atomic
from cocoedit.core.reporting import Picture, display_scale, plot, pyplot, table, thumbnail
from cocoedit.curation.build_journal import RECORDS
from cocoedit.curation.prompts import FILTER_KEYS
from cocoedit.data.manifest import ManifestError, detect_layout, iter_manifest

AREA_BINS = 20
EXAMPLES_PER_REASON = 4
FILTER_SCORE_RANGE = (1, 5)


class StatsError(CocoEditError):
    """The path holds neither a build output nor a manifest."""


def _words(text: str | None) -> int | None:
    return len(text.split()) if text else None


def rows_from_records(records_path: Path) -> list[dict[str, Any]]:
    """Per-sample rows from a build journal (the last record of an id wins, as in the build)."""
    by_id: dict[str, dict] = {}
    with open(records_path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.endswith("\n"):
                break  # the torn last line of an interrupted run; the build will redo that sample
            try:
                rec = json.loads(line)
                by_id[rec["id"]] = rec
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise StatsError(f"{records_path}:{n}: not a build record ({e})") from None
    return [
        {
            "status": r["status"],
            "reason": r["reason"],
            "edit_type": r.get("edit_type"),
            "mask_area": r.get("mask_area"),
            "words": _words(r.get("instruction")),
            "original_words": _words(r.get("original_instruction")),
            "id": r["id"],
            "source": r.get("input_source"),
            "instruction": r.get("instruction"),
            "filter_scores": (r.get("stages") or {}).get("filter", {}).get("scores"),
        }
        for r in by_id.values()
    ]


def rows_from_manifest(manifest: Path) -> list[dict[str, Any]]:
    """Per-sample rows of a manifest: ``kept`` when the row parses and its source, target and mask
    files read (the mask area is the edit share of its file), else ``unreadable`` with the
    reason (``bad_record`` or ``unreadable_file``) and the error naming line and file."""
    try:
        lines = list(iter_manifest(manifest, layout=detect_layout(manifest)))
    except ManifestError as e:
        raise StatsError(str(e)) from None
    if not lines:
        raise StatsError(f"{manifest}: manifest has no rows")
    rows = []
    for line in lines:
        if line.error is not None:
            rows.append(
                _unreadable("bad_record", f"{manifest}:{line.line}: {line.error}", (line.raw or {}).get("id"), None)
            )
            continue
        s = line.sample
        try:
            for image in (s.source, s.target):
                if image is not None:
                    open_image(image)
            area = float(load_edit_mask(s.mask, s.mask_polarity).mean())
        except ImageFileError as e:
            rows.append(_unreadable("unreadable_file", f"{manifest}:{line.line}: {e}", s.id, None))
            continue
        words = _words(s.instruction)
        rows.append(
            {
                "status": "kept",
                "reason": "kept",
                "edit_type": s.edit_type,
                "mask_area": area,
                "words": words,
                "original_words": words,
                "id": s.id,
            }
        )
    return rows


def _unreadable(reason: str, error: str, sample_id: Any, edit_type: str | None) -> dict[str, Any]:
    return {
        "status": "unreadable",
        "reason": reason,
        "error": error,
        "id": sample_id,
        "edit_type": edit_type,
        "mask_area": None,
        "words": None,
        "original_words": None,
        "instruction": error,
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and histograms of per-sample rows (``status``, ``reason``, ``edit_type``,
    ``mask_area``, ``words``, ``original_words``). Mask-area histogram: kept samples, 20 bins of
    width 0.05 on [0, 1] (the last bin includes 1.0)."""
    kept = [r for r in rows if r["status"] == "kept"]
    areas = [r["mask_area"] for r in kept if r["mask_area"] is not None]
    hist, _ = np.histogram(areas, bins=AREA_BINS, range=(0.0, 1.0))
    words = [r["words"] for r in kept if r["words"] is not None]
    original = [r["original_words"] for r in kept if r["original_words"] is not None]

    def describe(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"mean": None, "median": None, "min": None, "max": None}
        a = np.asarray(values, dtype=float)
        return {"mean": float(a.mean()), "median": float(np.median(a)), "min": float(a.min()), "max": float(a.max())}

    statuses = Counter(r["status"] for r in rows)
    counted = ("kept", "dropped", "failed") + (("unreadable",) if statuses["unreadable"] else ())  # manifests only
    filter_scores: dict[str, dict[str, dict[str, int]]] = {}
    low, high = FILTER_SCORE_RANGE
    for key in FILTER_KEYS:
        counts = {group: {str(v): 0 for v in range(low, high + 1)} for group in ("kept", "dropped")}
        for r in rows:
            value = (r.get("filter_scores") or {}).get(key)
            if value is not None and r["status"] in counts:
                counts[r["status"]][str(int(value))] = counts[r["status"]].get(str(int(value)), 0) + 1
        if any(sum(c.values()) for c in counts.values()):
            filter_scores[key] = counts
    return {
        "samples": len(rows),
        "counts": {k: statuses.get(k, 0) for k in counted},
        "unreadable": [r["error"] for r in rows if r["status"] == "unreadable"],
        "reasons": dict(sorted(Counter(r["reason"] for r in rows if r["status"] != "kept").items())),
        "edit_types_kept": dict(Counter(r["edit_type"] or "(none)" for r in kept).most_common()),
        "edit_types_all": dict(Counter(r["edit_type"] or "(none)" for r in rows).most_common()),
        "mask_area": {**describe(areas), "histogram": hist.tolist(), "bin_width": 1.0 / AREA_BINS},
        "instruction_words": describe(words),
        "original_instruction_words": describe(original),
        "filter_scores": filter_scores,
        "_words": words,
        "_original_words": original,
    }


def _whole_numbers(axis: Any) -> None:
    """Counts get whole-number ticks only."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _bars(counts: dict[str, int], title: str, xlabel: str) -> Picture | None:
    if not counts:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(counts) + 1.2))
    names = list(counts)[::-1]
    ax.barh(names, [counts[n] for n in names], color="#4477aa")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    _whole_numbers(ax.xaxis)
    return plot(fig, title)


def _area_histogram(stats: dict[str, Any]) -> Picture | None:
    hist = stats["mask_area"]["histogram"]
    if not sum(hist):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = stats["mask_area"]["bin_width"]
    ax.bar([i * width for i in range(len(hist))], hist, width=width, align="edge", color="#228833", edgecolor="white")
    ax.set_xlabel("edit-region share of the image")
    ax.set_ylabel("kept samples")
    _whole_numbers(ax.yaxis)
    return plot(fig, "mask-area histogram")


def _length_histogram(stats: dict[str, Any]) -> Picture | None:
    words, original = stats["_words"], stats["_original_words"]
    if not words:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    top = max(words + original) + 2
    bins = np.arange(0, top, max(1, top // 30))
    ax.hist(original, bins=bins, alpha=0.55, label="original")
    ax.hist(words, bins=bins, alpha=0.55, label="final (after refinement)")
    ax.set_xlabel("instruction length (words)")
    ax.set_ylabel("kept samples")
    _whole_numbers(ax.yaxis)
    ax.legend(frameon=False)
    return plot(fig, "instruction length histogram")


def _filter_histograms(stats: dict[str, Any]) -> Picture | None:
    """One panel per filter criterion: how many kept and dropped samples got each score (None: no
    sample went through the filter)."""
    scores = stats["filter_scores"]
    if not scores:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(scores), figsize=(3.4 * len(scores), 2.8), squeeze=False)
    for ax, (key, groups) in zip(axes[0], scores.items(), strict=False):
        values = sorted({int(v) for g in groups.values() for v in g})
        x = np.arange(len(values))
        for i, (group, color) in enumerate((("kept", "#228833"), ("dropped", "#cc3311"))):
            ax.bar(x + (i - 0.5) * 0.4, [groups[group].get(str(v), 0) for v in values], 0.4, label=group, color=color)
        ax.set_xticks(x, [str(v) for v in values])
        ax.set_title(key.replace("_", " "), fontsize=10)
        ax.set_xlabel("filter score", fontsize=8)
        _whole_numbers(ax.yaxis)
        ax.margins(y=0.15)
    axes[0][0].set_ylabel("samples")
    axes[0][-1].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return plot(fig, "filter score histograms")


def _examples(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per drop or failure reason (most frequent first): its count and up to EXAMPLES_PER_REASON
    examples, each a source thumbnail with its caption, or the caption and why there is no image."""
    groups = []
    reasons = Counter(r["reason"] for r in rows if r["status"] != "kept")
    for reason, count in reasons.most_common():
        examples = []
        for r in [r for r in rows if r["reason"] == reason][:EXAMPLES_PER_REASON]:
            caption = f"{r.get('id', '?')}: {r.get('instruction') or '(no instruction)'}"
            if r.get("mask_area") is not None:
                caption += f" (edit region {100 * r['mask_area']:.1f} %)"
            if r.get("filter_scores"):
                caption += " · filter " + ", ".join(f"{k} {v:g}" for k, v in r["filter_scores"].items())
            if not r.get("source"):
                problem = "no source path recorded"
                examples.append({"caption": caption, "problem": problem, "cls": "muted", "picture": None})
                continue
            try:
                image = open_image(r["source"])
            except ImageFileError as e:
                examples.append({"caption": caption, "problem": str(e), "cls": "bad", "picture": None})
                continue
            picture = thumbnail(image, caption, scale=display_scale(image.size))
            examples.append({"caption": caption, "problem": "", "cls": "", "picture": picture})
        groups.append({"reason": reason, "count": count, "examples": examples})
    return groups


def write_stats(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Stats of a build folder, a dataset folder with ``manifest.jsonl``/``metadata.jsonl``, or a
    manifest file; writes ``stats.json`` and ``stats.html`` in that folder. Returns the HTML path
    and the stats."""
    path = Path(path)
    if path.is_dir() and (path / RECORDS).is_file():
        rows, kind, folder = rows_from_records(path / RECORDS), "build journal", path
    else:
        manifest = path
        if path.is_dir():
            found = [path / n for n in ("manifest.jsonl", "metadata.jsonl") if (path / n).is_file()]
            if not found:
                raise StatsError(f"{path}: no records.jsonl, manifest.jsonl or metadata.jsonl")
            manifest = found[0]
        if not manifest.is_file():
            raise StatsError(f"{manifest}: not found")
        rows, kind, folder = rows_from_manifest(manifest), "manifest", manifest.parent
    stats = summarize(rows)
    public = {k: v for k, v in stats.items() if not k.startswith("_")}
    write_text_atomic(folder / "stats.json", json.dumps(public, indent=2) + "\n")

    c = stats["counts"]
    m, w, o = stats["mask_area"], stats["instruction_words"], stats["original_instruction_words"]
    page = render(
        "data_stats.html",
        title="Dataset statistics",
        subtitle=f"{stats['samples']} samples, from the {kind} in {folder}",
        decided=table(
            ["status", "samples", "share"], [[k, v, f"{100 * v / max(1, stats['samples']):.1f}%"] for k, v in c.items()]
        ),
        reasons=table(
            ["reason (dropped or failed)", "samples"],
            [[k, v] for k, v in sorted(stats["reasons"].items(), key=lambda kv: -kv[1])],
        ),
        reason_bars=_bars(stats["reasons"], "dropped / failed by reason", "samples"),
        edit_types=table(
            ["edit type", "kept", "all"],
            [[t, stats["edit_types_kept"].get(t, 0), n] for t, n in stats["edit_types_all"].items()],
        ),
        edit_type_bars=_bars(stats["edit_types_kept"], "kept samples by edit type", "samples"),
        mask_area=table(["mean", "median", "min", "max"], [[m["mean"], m["median"], m["min"], m["max"]]]),
        area_histogram=_area_histogram(stats),
        examples=_examples(rows),
        filter_histograms=_filter_histograms(stats),
        lengths=table(
            ["", "mean", "median", "min", "max"],
            [
                ["final", w["mean"], w["median"], w["min"], w["max"]],
                ["original", o["mean"], o["median"], o["min"], o["max"]],
            ],
        ),
        length_histogram=_length_histogram(stats),
    )
    out = folder / "stats.html"
    write_text_atomic(out, page)
    return out, public
