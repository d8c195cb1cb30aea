"""Check every row of a manifest against its files, without changing anything.

Each problem names the line, the sample id (when known) and the reason. Problem kinds:

``bad_json``, ``bad_record``, ``outside_root``, ``missing_file``, ``unreadable_file``,
``size_mismatch``, ``empty_mask``, ``full_mask``, ``non_binary_mask``, ``duplicate_id``, and
``no_rows`` (line 0) for a manifest without a single row.

Warnings do not make a row bad: ``grey_mask_pixels`` is a mask with some grey pixels (anti-aliased
edges, a resize, JPEG), which is binarised at 0.5 where it is used, as the reference does. A mask
more than :data:`MAX_GREY_SHARE` grey is not a mask at all (a photo given as the mask): that is
the problem ``non_binary_mask``.

Images are read by :func:`cocoedit.core.images.open_image`'s rule (regular file, decodes, within the
pixel limit); a file that breaks it is an ``unreadable_file``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cocoedit.core.images import ImageFileError, image_size, load_mask_values
from cocoedit.core.masks import edit_mask_from_file_values
from cocoedit.data.manifest import EditSample, ManifestError, ManifestLayout, iter_manifest

# A mask pixel counts as grey (neither black nor white) when it is this far from both ends; the
# margin tolerates 8-bit rounding but not JPEG ringing or anti-aliased edges.
GREY_MARGIN = 4.0 / 255.0

#: The largest share of grey pixels a mask may have. Soft edges, resizing and JPEG stay well below
#: (64 x 64 masks: JPEG q30 4-12 %, a radius-2 Gaussian blur 20-29 %; docs/data.md); a photo is
#: 87-100 % grey.
MAX_GREY_SHARE = 0.5


@dataclass(frozen=True)
class Problem:
    line: int
    sample_id: str | None
    kind: str
    message: str

    def __str__(self) -> str:
        if not self.line:  # about the whole file
            return f"{self.kind}: {self.message}"
        who = f" [{self.sample_id}]" if self.sample_id else ""
        return f"line {self.line}{who}: {self.kind}: {self.message}"


@dataclass
class ValidationReport:
    manifest: Path
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # rows that are used as they are

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_rows(self) -> int:
        return len({p.line for p in self.problems if p.line})

    def counts(self) -> Counter[str]:
        return Counter(p.kind for p in self.problems)

    def examples(self, per_kind: int = 3) -> dict[str, list[Problem]]:
        out: dict[str, list[Problem]] = {}
        for p in self.problems:
            bucket = out.setdefault(p.kind, [])
            if len(bucket) < per_kind:
                bucket.append(p)
        return out


def _problem_kind(message: str) -> str:
    if message.startswith("bad JSON"):
        return "bad_json"
    if "outside the dataset root" in message:
        return "outside_root"
    return "bad_record"


def _check_files(sample: EditSample, line: int) -> tuple[list[Problem], list[Problem]]:
    """``(problems, warnings)`` of one sample's files."""
    problems: list[Problem] = []
    warnings: list[Problem] = []

    def add(kind: str, message: str) -> None:
        problems.append(Problem(line, sample.id, kind, message))

    sizes: dict[str, tuple[int, int]] = {}
    for name in ("source", "target"):
        path = getattr(sample, name)
        if path is None:
            continue
        try:
            sizes[name] = image_size(path)
        except ImageFileError as e:
            add("missing_file" if not Path(path).exists() else "unreadable_file", f"{name}: {e}")
    try:
        values = load_mask_values(sample.mask)
    except ImageFileError as e:
        add("missing_file" if not Path(sample.mask).exists() else "unreadable_file", f"mask: {e}")
        return problems, warnings

    mask_hw = tuple(values.shape[-2:])
    for name, hw in sizes.items():
        if hw != mask_hw:
            add(
                "size_mismatch",
                f"mask {sample.mask.name} is {mask_hw[1]}x{mask_hw[0]} but {name} "
                f"{getattr(sample, name).name} is {hw[1]}x{hw[0]} (width x height)",
            )
    grey = ((values > GREY_MARGIN) & (values < 1 - GREY_MARGIN)).float().mean().item()
    if grey > MAX_GREY_SHARE:
        add(
            "non_binary_mask",
            f"{grey:.0%} of the pixels of mask {sample.mask.name} are grey (neither black nor white), more than "
            f"{MAX_GREY_SHARE:.0%}: this is not a mask (a photo or a heat map given as the mask?)",
        )
        return problems, warnings
    if grey > 0:
        warnings.append(
            Problem(
                line,
                sample.id,
                "grey_mask_pixels",
                f"{grey:.2%} of the pixels of mask {sample.mask.name} are grey (soft edges, a resize or JPEG); "
                "they are binarised at 0.5",
            )
        )
    edit = edit_mask_from_file_values(values, sample.mask_polarity)
    edit_fraction = edit.mean().item()
    white = "keep" if sample.mask_polarity == "white_is_keep" else "edit"
    if edit_fraction == 0:
        add("empty_mask", f"no edit region (mask {sample.mask.name}, white = {white})")
    elif edit_fraction == 1:
        add("full_mask", f"no keep region: the whole image is edit region (white = {white})")
    return problems, warnings


def validate_manifest(
    path: str | Path,
    allow_outside_root: bool = False,
    layout: ManifestLayout = "manifest",
    progress: Callable[[int], None] | None = None,
) -> ValidationReport:
    """Validate a manifest and all files it references. Reads only; writes nothing.

    ``progress`` is called with 1 after each row (for a progress bar).
    """
    report = ValidationReport(manifest=Path(path))
    first_line_of: dict[str, int] = {}
    with torch.inference_mode():
        for row in iter_manifest(path, allow_outside_root, layout):
            report.rows += 1
            if row.error is not None:
                sample_id = row.raw.get("id") if row.raw else None
                report.problems.append(
                    Problem(
                        row.line, sample_id if isinstance(sample_id, str) else None, _problem_kind(row.error), row.error
                    )
                )
            else:
                sample = row.sample
                assert sample is not None
                if sample.id in first_line_of:
                    report.problems.append(
                        Problem(
                            row.line,
                            sample.id,
                            "duplicate_id",
                            f"id {sample.id!r} already used on line {first_line_of[sample.id]}",
                        )
                    )
                else:
                    first_line_of[sample.id] = row.line
                problems, warnings = _check_files(sample, row.line)
                report.problems.extend(problems)
                report.warnings.extend(warnings)
            if progress is not None:
                progress(1)
    if report.rows == 0:
        report.problems.append(Problem(0, None, "no_rows", f"{path}: manifest has no rows"))
    return report


def warnings_line(report: ValidationReport) -> str | None:
    """One line summing up the report's warnings by kind (the first row of each named), or None."""
    if not report.warnings:
        return None
    by_kind = Counter(w.kind for w in report.warnings)
    firsts = {w.kind: w for w in reversed(report.warnings)}
    parts = [f"{kind} in {n} row(s) (first: {firsts[kind]})" for kind, n in by_kind.most_common()]
    return f"{report.manifest}: warning: " + "; ".join(parts)


def require_valid_manifest(path: str | Path, layout: ManifestLayout = "manifest", shown: int = 10) -> ValidationReport:
    """Raise :class:`ManifestError` naming the first ``shown`` problems (and how many more) when
    :func:`validate_manifest` finds any: what ``cocoedit train`` runs before a model loads.
    Returns the report (its warnings) otherwise."""
    report = validate_manifest(path, layout=layout)
    if report.ok:
        return report
    listed = "; ".join(str(p) for p in report.problems[:shown])
    more = f"; and {len(report.problems) - shown} more" if len(report.problems) > shown else ""
    raise ManifestError(
        f"{path}: {report.bad_rows} of {report.rows} row(s) are bad "
        f"(`cocoedit data validate {path}` lists them): {listed}{more}"
    )
