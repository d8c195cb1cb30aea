"""The journal and outputs of ``cocoedit data build``: one decision record per sample, appended and
fsync'ed as each sample finishes (a torn last line is cut off on reading), the settings record that
a resumed run must match, and the manifest and summary rewritten from the journal. A stop on too
many failures names their counts, the last explanation a server gave and one unparsable reply."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cocoedit.core.errors import UNPARSABLE, CocoEditError, explain_failures
from cocoedit.curation.config import BuildConfig
from cocoedit.data.manifest import EditSample, write_manifest

RECORDS = "records.jsonl"
MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"
CONFIG_RECORD = "build_config.json"


class BuildError(CocoEditError):
    """The build cannot run (bad input manifest, an output folder from another config...)."""


class RecordLog:
    """Append-only JSONL journal of per-sample decisions; one writer (the event loop)."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> dict[str, dict]:
        """Records by id (the last record of an id wins: a retried failure supersedes the failure).

        A last line without its newline is what a crash mid-write leaves: it is cut off. A bad
        line anywhere else means the file was edited or corrupted, which is an error.
        """
        if not self.path.is_file():
            return {}
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(end)
            data = data[:end]
        records: dict[str, dict] = {}
        for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            try:
                rec = json.loads(line)
                records[rec["id"]] = rec
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise BuildError(f"{self.path}:{n}: not a build record ({e}); the journal is damaged") from None
        return records

    def append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())


# ---- pure helpers --------------------------------------------------------------------------------


@dataclass
class BuildSummary:
    total: int
    processed: int
    counts: dict[str, int]
    reasons: dict[str, int]
    manifest: Path
    failed_reasons: dict[str, int]
    #: ``". Last explanation: ...; one unparsable reply: ..."`` (each part only when there is one).
    failure_explanation: str = ""

    def failures_beyond(self, allowed_fraction: float) -> str | None:
        """A sentence naming the failures when more than ``allowed_fraction`` of the input failed."""
        failed = self.counts["failed"]
        if failed == 0 or failed <= allowed_fraction * self.total:
            return None
        counted = ", ".join(f"{reason} x{n}" for reason, n in self.failed_reasons.items())
        return (
            f"{failed} of {self.total} samples failed ({counted}), more than --allow-failures "
            f"{allowed_fraction:g} allows; rerun with --retry-failed once the cause is fixed" + self.failure_explanation
        )


def check_config_record(out: Path, config: BuildConfig, in_manifest: Path, write: bool = False) -> None:
    """Refuse to resume a build made with other decision settings or input; with ``write``, record
    this build's (done once its first sample is about to be processed, so a start that fails earlier
    leaves nothing in the way of the corrected command)."""
    wanted = {"input": str(in_manifest.resolve()), "config": config.decision_fields()}
    path = out / CONFIG_RECORD
    if path.is_file():
        found = json.loads(path.read_text(encoding="utf-8"))
        if found != wanted:
            diff = [k for k in ("input", "config") if found.get(k) != wanted[k]]
            raise BuildError(
                f"{out} holds a build with a different {' and '.join(diff)} ({path}); "
                "use a new --out, or the same config and input to resume"
            )
    elif write:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")


def _said(failed: list[dict]) -> Iterator[tuple[str, str]]:
    """``(reason, detail)`` of failed records, in order, for :func:`explain_failures`: the error
    (and the reply, when it did not parse) under the sample's id; a reply that did not parse before
    another failure (an HTTP 500 on the re-ask) is given as an unparsable reply of its own."""
    for r in failed:
        raw = r["stages"].get("failure", {}).get("raw")
        reply = f"; reply: {raw!r}" if raw else ""
        if r["reason"].endswith(UNPARSABLE):
            yield r["reason"], f"{r['id']}: {r['error']}{reply}"
            continue
        yield r["reason"], f"{r['id']}: {r['error']}"
        if raw:
            yield UNPARSABLE, f"{r['id']}: {raw!r}, before {r['reason']}"


def finalize(out: Path, records: dict[str, dict], total: int) -> BuildSummary:
    """Write ``manifest.jsonl`` (kept samples, input order) and ``summary.json`` from the records."""
    kept = sorted((r for r in records.values() if r["status"] == "kept"), key=lambda r: r["index"])
    samples = []
    for r in kept:
        files = r["files"]
        curation = {"original_instruction": r["original_instruction"], "mask_area": r["mask_area"]}
        if "filter" in r["stages"]:
            curation["scores"] = r["stages"]["filter"]["scores"]
        samples.append(
            EditSample(
                id=r["id"],
                source=out / files["source"],
                instruction=r["instruction"],
                mask=out / files["mask"],
                edit_type=r["edit_type"],
                target=out / files["target"] if "target" in files else None,
                metadata={**r.get("metadata", {}), "curation": curation},
            )
        )
    manifest = write_manifest(samples, out / MANIFEST)
    counts = Counter(r["status"] for r in records.values())
    reasons = Counter(r["reason"] for r in records.values() if r["status"] != "kept")
    failed_records = sorted((r for r in records.values() if r["status"] == "failed"), key=lambda r: r["index"])
    failed = Counter(r["reason"] for r in failed_records)
    summary = BuildSummary(
        total,
        len(records),
        {k: counts.get(k, 0) for k in ("kept", "dropped", "failed")},
        dict(sorted(reasons.items())),
        manifest,
        dict(failed.most_common()),
        explain_failures(_said(failed_records)),
    )
    written = {"total": total, "processed": len(records), "counts": summary.counts, "reasons": summary.reasons}
    if summary.failure_explanation:
        written["failure_explanation"] = summary.failure_explanation.removeprefix(". ")
    (out / SUMMARY).write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
    return summary
