"""``cocoedit data``: validate, import, build (curation), stats."""

from __future__ import annotations

from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cocoedit.cli.common import CocoEditGroup, fail
from cocoedit.cli.progress import progress

app = typer.Typer(
    cls=CocoEditGroup, no_args_is_help=True, help="Datasets: import, curation (build), statistics, validation."
)


class ManifestFormat(str, Enum):
    auto = "auto"
    manifest = "manifest"
    cocoedit40k = "cocoedit40k"


class SourceFormatOption(str, Enum):
    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    hf = "hf"
    cocoedit40k = "cocoedit40k"


@app.command("validate")
def validate(
    manifest: Annotated[Path, typer.Argument(help="JSONL manifest, or a CoCoEdit-40K metadata.jsonl.")],
    format: Annotated[
        ManifestFormat, typer.Option(help="Row format; auto looks at the first row.")
    ] = ManifestFormat.auto,
    allow_outside_root: Annotated[bool, typer.Option(help="Accept paths outside the manifest's folder.")] = False,
    report: Annotated[
        bool, typer.Option("--report", help="Counts per problem and a few examples, not every row.")
    ] = False,
    examples: Annotated[int, typer.Option(help="Examples per problem kind with --report.")] = 3,
) -> None:
    """Check every row and file of a manifest. Reads only; exits 1 if anything is wrong."""
    from cocoedit.data.manifest import count_rows, detect_layout
    from cocoedit.data.validate import validate_manifest

    if not manifest.is_file():
        raise fail(f"{manifest}: manifest not found")
    layout = detect_layout(manifest) if format == ManifestFormat.auto else format.value
    with progress(f"validating {manifest.name} ({layout})", count_rows(manifest), "rows") as task:
        result = validate_manifest(manifest, allow_outside_root, layout, progress=task.advance)
    if report:
        for kind, count in sorted(result.counts().items(), key=lambda kv: -kv[1]):
            typer.echo(f"{kind}: {count}")
            for problem in result.examples(examples)[kind]:
                typer.echo(f"    {problem}")
        for kind, count in Counter(w.kind for w in result.warnings).most_common():
            typer.echo(f"warning {kind}: {count}")
            for warning in [w for w in result.warnings if w.kind == kind][:examples]:
                typer.echo(f"    {warning}")
    else:
        for problem in result.problems:
            typer.echo(str(problem))
        for warning in result.warnings:
            typer.echo(f"warning: {warning}")
    verdict = "ok" if result.ok else f"{result.bad_rows} bad row(s), {len(result.problems)} problem(s)"
    if result.warnings:
        verdict += f" ({len(result.warnings)} warning(s): used as they are)"
    typer.echo(f"{manifest}: {result.rows} row(s) checked: {verdict}")
    if not result.ok:
        raise typer.Exit(1)


@app.command("import")
def import_(
    source: Annotated[
        Path,
        typer.Argument(help="JSONL/CSV/parquet table, a `datasets` save_to_disk folder, or a CoCoEdit-40K folder."),
    ],
    out: Annotated[
        Path, typer.Option(help="Folder for manifest.jsonl, images/, targets/, masks/, import_skipped.jsonl.")
    ],
    format: Annotated[
        SourceFormatOption, typer.Option(help="Source format; auto looks at the path.")
    ] = SourceFormatOption.auto,
    source_col: Annotated[
        str, typer.Option(help="Column of the source image (path, bytes or {bytes, path}).")
    ] = "source",
    target_col: Annotated[
        Optional[str], typer.Option(help="Column of the edited image; '' for datasets without one.")
    ] = "target",
    instruction_col: Annotated[str, typer.Option(help="Column of the instruction.")] = "instruction",
    id_col: Annotated[
        Optional[str], typer.Option(help="Column of the sample id (default: 'id' if present, else the row number).")
    ] = None,
    edit_type_col: Annotated[
        Optional[str], typer.Option(help="Column of the edit type (default: 'edit_type' if present).")
    ] = None,
    mask_col: Annotated[Optional[str], typer.Option(help="Column of an existing mask (white = edit).")] = None,
    split: Annotated[Optional[str], typer.Option(help="Split of a saved DatasetDict.")] = None,
    link: Annotated[
        bool, typer.Option("--link", help="Hard-link image files instead of copying them (copied across file systems).")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first bad row instead of skipping it.")] = False,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Import at most this many rows.")] = None,
) -> None:
    """Import an editing dataset as a manifest of candidates for `cocoedit data build`."""
    from cocoedit.data.importers import SKIPPED_NAME, ColumnMapping, import_pairs

    columns = ColumnMapping(
        source=source_col,
        target=target_col or None,
        instruction=instruction_col,
        id=id_col,
        edit_type=edit_type_col,
        mask=mask_col,
    )
    fmt = None if format == SourceFormatOption.auto else format.value
    with progress(f"importing {source.name}", None, "rows") as task:
        result = import_pairs(
            source, out, fmt, columns, split=split, link=link, strict=strict, limit=limit, progress=task.advance
        )
    typer.echo(f"{result.imported} imported, {sum(result.skipped.values())} skipped -> {result.manifest}")
    for reason, n in result.skipped.most_common():
        typer.echo(f"    skipped ({reason}): {n}")
    shown = 5
    for row, why in result.skipped_rows[:shown]:
        typer.echo(f"    row {row}: {why}")
    if result.skipped_rows:
        more = f"{len(result.skipped_rows) - shown} more, " if len(result.skipped_rows) > shown else ""
        typer.echo(f"    ({more}every skipped row with its reason: {result.manifest.parent / SKIPPED_NAME})")


def _counts_text(counts: dict, reasons: dict) -> str:
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:4])
    return f"kept {counts.get('kept', 0)} · dropped {counts.get('dropped', 0)} · failed {counts.get('failed', 0)}" + (
        f" ({dropped})" if dropped else ""
    )


@app.command("build")
def build(
    config: Annotated[
        str,
        typer.Option(
            metavar="PRESET|FILE",
            help="Curation config: a shipped preset's name (e.g. curation_local_edits; cocoedit configs list) or a "
            "YAML file.",
        ),
    ],
    in_: Annotated[Path, typer.Option("--in", help="Candidate manifest (from `cocoedit data import`).")],
    out: Annotated[Path, typer.Option(help="Output folder; an existing one is resumed.")],
    model: Annotated[
        Optional[str], typer.Option(help="VLM model id as the server knows it (overrides vlm.endpoint.model).")
    ] = None,
    base_url: Annotated[
        Optional[str], typer.Option(help="OpenAI-compatible endpoint (overrides vlm.endpoint.base_url).")
    ] = None,
    api_key_env: Annotated[
        Optional[str],
        typer.Option(help="Environment variable holding the API key (overrides vlm.endpoint.api_key_env)."),
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option(min=1, help="Samples in flight at once (overrides workers).")
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Process samples recorded as failed again.")
    ] = False,
    allow_failures: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of samples that may fail (no decision: unreadable image, VLM timeout...) before the "
            "command exits 1.",
        ),
    ] = 0.0,
) -> None:
    """Annotate masks, augment, refine and filter candidates into a training manifest (resumable)."""
    from cocoedit.curation.build import run_build
    from cocoedit.curation.config import load_build_config

    endpoint = {"model": model, "base_url": base_url, "api_key_env": api_key_env}
    cfg = load_build_config(config, endpoint={k: v for k, v in endpoint.items() if v}, workers=workers)
    counts: Counter = Counter()
    reasons: Counter = Counter()
    with progress("build", None, "samples") as task:

        def on_record(record: dict) -> None:
            counts[record["status"]] += 1
            if record["status"] != "kept":
                reasons[record["reason"]] += 1
            task.advance(status=_counts_text(counts, reasons))

        summary = run_build(
            cfg,
            in_,
            out,
            retry_failed=retry_failed,
            on_start=lambda todo, done: task.update(total=todo),
            on_record=on_record,
        )
    typer.echo(f"{summary.processed}/{summary.total} samples decided: {_counts_text(summary.counts, summary.reasons)}")
    typer.echo(f"manifest: {summary.manifest} (stats: cocoedit data stats {out})")
    problem = summary.failures_beyond(allow_failures)
    if problem:
        raise fail(problem, code=1)


@app.command("stats")
def stats(
    path: Annotated[Path, typer.Argument(help="A `cocoedit data build` folder, a dataset folder or a manifest.")],
) -> None:
    """Edit types, mask areas, instruction lengths, kept/dropped by reason: stats.html with plots."""
    from cocoedit.curation.stats import write_stats

    report, figures = write_stats(path)
    typer.echo(f"{figures['samples']} samples: " + ", ".join(f"{k} {v}" for k, v in figures["counts"].items()))
    for error in figures["unreadable"]:
        typer.echo(f"    unreadable: {error}")
    typer.echo(f"report: {report}")
