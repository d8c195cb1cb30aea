"""``cocoedit eval``: keep-region consistency and MLLM-judge scores of results folders."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from cocoedit.cli.common import Bench, CocoEditGroup, fail
from cocoedit.cli.progress import progress

app = typer.Typer(cls=CocoEditGroup, no_args_is_help=True, help="Evaluation on GEdit-Bench and ImgEdit-Bench.")


class SSIMModeOption(str, Enum):
    normalized = "normalized"
    full_map = "full_map"


class JudgeBackendOption(str, Enum):
    openai = "openai"
    transformers = "transformers"


class ImageFormatOption(str, Enum):
    png = "png"
    jpeg = "jpeg"


@app.command("consistency")
def consistency(
    bench: Annotated[Bench, typer.Option(help="Benchmark layout.")],
    bench_dir: Annotated[Path, typer.Option(help="Mask-annotated benchmark folder.")],
    results: Annotated[list[Path], typer.Option(help="Results folder; repeat to compare several.")],
    out: Annotated[Path, typer.Option(help="Folder for per_sample.csv, summary.json, report.html.")],
    ssim_mode: Annotated[
        SSIMModeOption,
        typer.Option(help="normalized: keep pixels only; full_map: whole-image SSIM map averaged on the keep region."),
    ] = SSIMModeOption.normalized,
    lpips_weights: Annotated[
        Optional[Path], typer.Option(help="VGG16 state dict (torchvision format, .pth/.safetensors): adds keep_lpips.")
    ] = None,
    lpips_heads: Annotated[
        Optional[Path],
        typer.Option(help="LPIPS linear heads (lpips' weights/v0.1/vgg.pth); without it keep_lpips is uncalibrated."),
    ] = None,
    dino: Annotated[
        Optional[str], typer.Option(help="DINOv2 folder or hub id (transformers Dinov2Model): adds keep_dino.")
    ] = None,
    clip: Annotated[
        Optional[str],
        typer.Option(help="CLIP folder or hub id (transformers CLIPVisionModelWithProjection): adds keep_clip."),
    ] = None,
    dino_size: Annotated[int, typer.Option(min=14, help="Side DINOv2 sees (rounded to its patch size).")] = 224,
    device: Annotated[str, typer.Option(help="Device of the perceptual models.")] = "cpu",
    allow_failures: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of samples per results folder that may go unscored (missing, unreadable, broken "
            "benchmark files) before the command exits 1.",
        ),
    ] = 0.0,
) -> None:
    """Keep-region PSNR/SSIM/MAE (optionally LPIPS, DINO, CLIP) of edited results, with an HTML report."""
    from cocoedit.eval.benchmarks import load_benchmark
    from cocoedit.eval.consistency import evaluate_consistency, unscored_beyond
    from cocoedit.eval.perceptual import load_perceptual

    total = len(load_benchmark(bench.value, bench_dir)) * len(results)
    perceptual = load_perceptual(lpips_weights, lpips_heads, dino, clip, device, dino_size)
    with progress("scoring", total, "samples") as task:
        summary = evaluate_consistency(bench.value, bench_dir, results, out, ssim_mode.value, task.advance, perceptual)
    _print_consistency_summary(summary)
    typer.echo(f"report: {out / 'report.html'}")
    problems = unscored_beyond(summary, allow_failures)
    if problems:
        raise fail(
            "; ".join(problems) + f" — more than --allow-failures {allow_failures:g} allows "
            "(the outputs above are written)",
            code=1,
        )


def _print_consistency_summary(summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"keep-region consistency ({summary['bench']})")
    for col in ("results", "scored", "not scored", "PSNR macro", "SSIM macro", "edit change"):
        table.add_column(col, justify="right")
    for label, res in summary["results"].items():
        c, m = res["counts"], res["overall_macro"]
        fmt = lambda v, spec: "–" if v is None or v != v else format(v, spec)  # noqa: E731
        table.add_row(
            label,
            str(c["scored"]),
            str(c["samples"] - c["scored"]),
            fmt(m["keep_psnr"], ".2f"),
            fmt(m["keep_ssim"], ".4f"),
            fmt(m["edit_change"], ".4f"),
        )
    Console().print(table)


@app.command("judge")
def judge(
    bench: Annotated[Bench, typer.Option(help="Benchmark layout.")],
    bench_dir: Annotated[Path, typer.Option(help="Benchmark folder (with its metafile: instructions, types).")],
    results: Annotated[list[Path], typer.Option(help="Results folder; repeat to compare several.")],
    out: Annotated[
        Path,
        typer.Option(help="Folder for judge_summary.json, judge_per_sample.csv, judge_replies.jsonl, report.html."),
    ],
    model: Annotated[
        str, typer.Option(help="Judge model id as the server knows it (or a label with --backend transformers).")
    ],
    base_url: Annotated[
        list[str],
        typer.Option(
            help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 for vllm serve; repeat for replicas of "
            "one judge (each request goes to the least busy one)."
        ),
    ] = ["http://127.0.0.1:8000/v1"],  # noqa: B006 (typer reads the default; it is never mutated)
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the API key (not needed for a local server).")
    ] = "OPENAI_API_KEY",
    consistency: Annotated[
        Optional[Path],
        typer.Option(
            help="A `cocoedit eval consistency` output folder to merge into the report (default: --out, if it "
            "holds one)."
        ),
    ] = None,
    official_prompts: Annotated[
        Optional[Path],
        typer.Option(
            help="The benchmark's own prompt file (GEdit viescore/vie_prompts.py, ImgEdit prompts.json) instead "
            "of ours."
        ),
    ] = None,
    backend: Annotated[
        JudgeBackendOption,
        typer.Option(help="openai: any chat-completions server; transformers: load --model-path in this process."),
    ] = JudgeBackendOption.openai,
    model_path: Annotated[
        Optional[Path], typer.Option(help="Local Qwen2.5-VL checkpoint folder for --backend transformers.")
    ] = None,
    cache: Annotated[Optional[Path], typer.Option(help="SQLite reply cache (default: OUT/judge_cache.sqlite).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds per request.")] = 120.0,
    max_retries: Annotated[
        int, typer.Option(min=0, help="Retries on timeouts, dropped connections, 429, 5xx and unusable bodies.")
    ] = 4,
    unreachable_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for a judge that cannot be reached before stopping.")
    ] = 600.0,
    health_timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds GET /models may take at start (transformers serve: 120).")
    ] = 30.0,
    parse_retries: Annotated[int, typer.Option(min=0, help="Extra replies requested after an unparsable one.")] = 2,
    temperature: Annotated[float, typer.Option(min=0.0, help="Judge temperature (0 = reproducible).")] = 0.0,
    max_tokens: Annotated[int, typer.Option(min=1, help="Longest reply.")] = 512,
    seed: Annotated[int, typer.Option(help="Sampling seed sent to the judge.")] = 0,
    image_format: Annotated[
        ImageFormatOption, typer.Option(help="How images travel to the server.")
    ] = ImageFormatOption.png,
    max_image_side: Annotated[int, typer.Option(min=16, help="Longest image side sent to the judge.")] = 1024,
    allow_failures: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of samples per results folder that may go unjudged (failed, missing, unreadable) before "
            "the command exits 1.",
        ),
    ] = 0.0,
) -> None:
    """MLLM-judge scores (GEdit VIEScore SC/PQ/O, ImgEdit rubric) of results folders, with an HTML report."""
    from cocoedit.eval.judge_bench import unjudged_beyond
    from cocoedit.eval.judge_run import run_judge_benchmark
    from cocoedit.judge.config import EndpointConfig, JudgeConfig, SamplingConfig

    if backend == JudgeBackendOption.transformers and model_path is None:
        raise fail("--backend transformers needs --model-path")
    config = JudgeConfig(
        endpoint=EndpointConfig(
            base_url=base_url[0],
            model=model,
            api_key_env=api_key_env,
            concurrency=concurrency,
            timeout_s=timeout,
            max_retries=max_retries,
            unreachable_timeout_s=unreachable_timeout,
            health_timeout_s=health_timeout,
            image_format=image_format.value,
            max_image_side=max_image_side,
        ),
        sampling=SamplingConfig(temperature=temperature, max_tokens=max_tokens, seed=seed),
        parse_retries=parse_retries,
        cache_path=cache,
        endpoints=base_url if len(base_url) > 1 else None,
    )
    local = model_path if backend == JudgeBackendOption.transformers else None
    with progress("judging", None, "samples") as task:
        summary, report = run_judge_benchmark(
            bench.value,
            bench_dir,
            results,
            out,
            config,
            official_prompts,
            local,
            consistency,
            on_start=lambda n: task.update(total=n),
            progress=task.advance,
        )
    for label, res in summary["results"].items():
        c, head = res["counts"], res["headline"]
        value = "–" if head["value"] is None else f"{head['value']:.3f}"
        typer.echo(
            f"{label}: {head['metric']} = {value} ({c['scored']}/{c['samples']} judged, "
            f"{c['failed']} failed, {c['missing']} missing, {c['unreadable']} unreadable)"
        )
    typer.echo(f"report: {report}")
    problems = unjudged_beyond(summary, allow_failures)
    if problems:
        raise fail(
            "; ".join(problems) + f" — more than --allow-failures {allow_failures:g} allows "
            "(the outputs above are written)",
            code=1,
        )
