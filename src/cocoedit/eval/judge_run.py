"""``cocoedit eval judge`` as one function: judge results folders on a benchmark, write the outputs
(:mod:`cocoedit.eval.judge_bench`) and the merged HTML report (:mod:`cocoedit.eval.judge_report`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cocoedit.eval.benchmarks import BenchmarkError, BenchName, load_benchmark
from cocoedit.eval.judge_bench import REPLIES_FILE, judge_results, templates_for, write_judge_outputs
from cocoedit.eval.judge_report import write_judge_report
from cocoedit.judge.cache import JudgeCache
from cocoedit.judge.config import JudgeConfig
from cocoedit.judge.evaluate import open_judge

CACHE_FILE = "judge_cache.sqlite"


def run_judge_benchmark(
    bench: BenchName,
    bench_dir: Path,
    results_dirs: Sequence[Path],
    out: Path,
    judge: JudgeConfig,
    official_prompts: Path | None = None,
    local_model: Path | None = None,
    consistency_dir: Path | None = None,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], Path]:
    """Judge every sample of every results folder; return the summary and the report's path.

    ``judge`` is the endpoint (or, with ``local_model``, a local Qwen2.5-VL folder run in this
    process, labelled with ``judge.endpoint.model``). Replies are cached in ``judge.cache_path``
    (default ``out/judge_cache.sqlite``) and exported to ``out/judge_replies.jsonl`` even when the
    run stops early. ``consistency_dir`` (default: ``out`` when it holds a consistency summary) is
    merged into the report.
    """
    if consistency_dir is None and (out / "summary.json").is_file():
        consistency_dir = out
    if consistency_dir is not None and not (consistency_dir / "summary.json").is_file():
        raise BenchmarkError(f"{consistency_dir}: no summary.json from `cocoedit eval consistency`")
    for d in results_dirs:
        if not d.is_dir():
            raise BenchmarkError(f"{d}: results folder not found")
    samples = load_benchmark(bench, bench_dir)
    templates = templates_for(bench, official_prompts)
    if on_start is not None:
        on_start(len(samples) * len(results_dirs))
    out.mkdir(parents=True, exist_ok=True)
    cache = JudgeCache(judge.cache_path or out / CACHE_FILE)

    async def run():
        backend = None
        if local_model is not None:
            from cocoedit.judge.local import TransformersJudgeBackend

            backend = TransformersJudgeBackend.from_pretrained(
                local_model, max_image_side=judge.endpoint.max_image_side
            )
        evaluator = await open_judge(judge, backend, cache)
        try:
            return await judge_results(bench, samples, results_dirs, evaluator, templates, progress)
        finally:
            stats = getattr(evaluator.backend, "endpoint_stats", None)
            endpoints.extend(stats() if stats is not None else [])
            await evaluator.backend.aclose()

    endpoints: list[dict] = []
    try:
        rows = asyncio.run(run())
    finally:
        cache.export_jsonl(out / REPLIES_FILE)
        cache.close()
    e = judge.endpoint
    info = {
        "backend": "transformers" if local_model is not None else "openai",
        "model": e.model,
        "base_url": None if local_model is not None else ", ".join(judge.base_urls()),
        "endpoints": endpoints,
        "model_path": str(local_model) if local_model is not None else None,
        "prompt_source": f"official, from {official_prompts}" if official_prompts else "cocoedit's own wording",
        "templates": sorted({t.ident for t in templates.values()}),
        "sampling": judge.sampling.model_dump(),
        "image_encoding": f"{e.image_format}, longest side <= {e.max_image_side}",
    }
    summary = write_judge_outputs(out, bench, bench_dir, results_dirs, rows, info)
    return summary, write_judge_report(out, summary, consistency_dir)
