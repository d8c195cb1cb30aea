"""Judge client throughput against a local scripted server at a realistic judge latency.

Target: 512 requests at concurrency 64 against a server whose answers take 1-3 s each (as a
32-72B judge does) reach at least 97 % of the ideal throughput. The ideal is computed from this
run's own latencies: every request's latency is fixed by its prompt
(:func:`cocoedit.testing.judge_server.latency_for`), and 64 slots taking the requests in order with
no client overhead would finish at the makespan printed as ``ideal``. The script prints
ideal / elapsed and exits with status 1 when it is below the target.

The server runs in its own process (as a real judge would) and skips its request-type validation
(the tests do that). Each request goes through the whole judging path: template rendering, the
``AsyncOpenAI`` transport, strict parsing; image data URLs are encoded before the timed part. The
same run also times a bare aiohttp client posting requests of the same size and latencies.

    .venv/bin/python benchmarks/bench_judge.py [--requests 512 --concurrency 64 --latency 1 3]
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import subprocess
import sys
import time

import torch

from cocoedit.judge.client import OpenAIJudgeBackend
from cocoedit.judge.config import EndpointConfig
from cocoedit.judge.evaluate import Judge
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.prompts import reward_template
from cocoedit.testing.judge_server import latency_for


def ideal_makespan(latencies: list[float], slots: int) -> float:
    """Finishing time of requests taken in order by ``slots`` parallel slots, no overhead."""
    free = [0.0] * slots
    end = 0.0
    for latency in latencies:
        start = heapq.heappop(free)
        heapq.heappush(free, start + latency)
        end = max(end, start + latency)
    return end


def instructions(requests: int) -> list[str]:
    return [f"edit number {i}" for i in range(requests)]


async def run(base_url: str, requests: int, concurrency: int) -> tuple[float, float, int]:
    backend = OpenAIJudgeBackend(EndpointConfig(base_url=base_url, model="scripted-judge", concurrency=concurrency))
    judge = Judge(backend, parse_retries=0)
    template = reward_template("text")
    gen = torch.Generator().manual_seed(0)
    pairs = [
        {
            "source": JudgeImage.from_tensor(torch.rand(3, 64, 64, generator=gen)),
            "edited": JudgeImage.from_tensor(torch.rand(3, 64, 64, generator=gen)),
        }
        for _ in range(requests)
    ]
    c = backend.config
    for p in pairs:  # memoised on the image: the timed part measures the request machinery
        for im in p.values():
            im.data_url(c.image_format, c.jpeg_quality, c.max_image_side)
    try:
        await backend.health_check()
        start, cpu_start = time.perf_counter(), time.process_time()
        outcomes = await asyncio.gather(
            *[judge.evaluate(template, p, text) for p, text in zip(pairs, instructions(requests), strict=True)]
        )
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        await backend.aclose()
    return elapsed, cpu, sum(o.ok for o in outcomes)


async def run_bare(base_url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """A bare aiohttp client posting a request of the same size (two 64x64 PNG data URLs and the
    prompt) and reading the JSON answer, with nothing of the judging path."""
    import aiohttp

    gen = torch.Generator().manual_seed(1)
    urls = [JudgeImage.from_tensor(torch.rand(3, 64, 64, generator=gen)).data_url("png", 95, 1024) for _ in range(2)]
    template = reward_template("text")
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(text: str) -> None:
            body = {
                "model": "scripted-judge",
                "max_tokens": 32,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            *({"type": "image_url", "image_url": {"url": u}} for u in urls),
                            {"type": "text", "text": template.render(text)},
                        ],
                    }
                ],
            }
            async with slots, session.post(f"{base_url}/chat/completions", json=body) as response:
                (await response.json())["choices"][0]["message"]["content"]

        start, cpu_start = time.perf_counter(), time.process_time()
        await asyncio.gather(*[one(text) for text in instructions(requests)])
        return time.perf_counter() - start, time.process_time() - cpu_start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"))
    parser.add_argument("--target", type=float, default=0.97, help="smallest acceptable ideal / elapsed")
    args = parser.parse_args()
    low, high = args.latency
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cocoedit.testing.judge_server",
            "--latency",
            str(low),
            "--latency-max",
            str(high),
            "--text",
            "Editing effect: 4\nVisual quality: 5",
            "--no-validate",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = server.stdout.readline().strip()
        if not base_url.startswith("http://"):
            print(f"scripted server did not start (said {base_url!r})", file=sys.stderr)
            return 2
        elapsed, cpu, ok = asyncio.run(run(base_url, args.requests, args.concurrency))
        bare, bare_cpu = asyncio.run(run_bare(base_url, args.requests, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=10)
    template = reward_template("text")
    ideal = ideal_makespan(
        [latency_for(template.render(t), low, high) for t in instructions(args.requests)], args.concurrency
    )
    throughput = ideal / elapsed
    print(f"requests={args.requests} concurrency={args.concurrency} latency {low:g}-{high:g} s ok={ok}")
    print(f"client CPU in the timed part: {cpu:.3f}s ({cpu / args.requests * 1e3:.2f} ms per request)")
    print(
        f"baseline, a bare aiohttp client on the same server: elapsed={bare:.3f}s throughput={ideal / bare:.4f} "
        f"of ideal, CPU {bare_cpu / args.requests * 1e3:.2f} ms per request"
    )
    print(f"elapsed={elapsed:.3f}s ideal={ideal:.3f}s throughput={throughput:.4f} of ideal, target>={args.target}")
    passed = throughput >= args.target and ok == args.requests
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
