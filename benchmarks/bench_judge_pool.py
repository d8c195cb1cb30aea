"""Judge throughput with several replicas (``judge.endpoints``) against one, in the same run.

Each replica is a scripted server on 127.0.0.1 that behaves like one ``vllm serve`` under load: it
works on ``--capacity`` requests at once, each taking ``--latency`` seconds (1 s: a 7-32B judge),
and queues the rest in arrival order. The client sends ``--requests`` judge calls through the whole
judging path (template, ``AsyncOpenAI`` transport, strict parsing) with ``endpoint.concurrency``
per replica. Throughput is requests per second; the ideal ratio of N replicas to one is N.

Target (issue #23): with 1 s latency, 3 replicas give at least 2.7x the throughput of one. The
script prints both throughputs and the ratio, and exits with status 1 below the target.

    .venv/bin/python benchmarks/bench_judge_pool.py [--replicas 3 --requests 48 --capacity 4 --latency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import sys
import threading
import time

import torch

from cocoedit.judge.config import EndpointConfig, JudgeConfig
from cocoedit.judge.evaluate import open_judge
from cocoedit.judge.images import JudgeImage
from cocoedit.judge.prompts import reward_template
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply

TARGET = 2.7


def queueing_server(capacity: int, latency: float) -> ScriptedJudgeServer:
    """A scripted server that answers ``capacity`` requests at once, ``latency`` s each, FIFO."""
    free_at = [0.0] * capacity  # when each of its lanes is next free (monotonic seconds)
    lock = threading.Lock()

    def script(body: dict, index: int) -> ScriptedReply:
        with lock:
            now = time.monotonic()
            start = max(now, heapq.heappop(free_at))
            heapq.heappush(free_at, start + latency)
        return ScriptedReply(text="Editing effect: 4\nVisual quality: 5", delay_s=start + latency - now)

    return ScriptedJudgeServer(script, validate_requests=False)


async def judge_all(urls: list[str], requests: int, concurrency: int) -> float:
    """Seconds to judge ``requests`` distinct pairs through replicas ``urls``."""
    config = JudgeConfig(
        endpoint=EndpointConfig(model="scripted-judge", concurrency=concurrency, timeout_s=300),
        endpoints=urls,
        parse_retries=0,
    )
    gen = torch.Generator().manual_seed(0)
    pairs = [
        {name: JudgeImage.from_tensor(torch.rand(3, 64, 64, generator=gen)) for name in ("source", "edited")}
        for _ in range(requests)
    ]
    for pair in pairs:  # encoded before the clock starts: the benchmark measures routing, not PNG
        for image in pair.values():
            image.data_url("png", 95, 1024)
    judge = await open_judge(config)
    try:
        start = time.perf_counter()
        outcomes = await asyncio.gather(
            *[judge.evaluate(reward_template("text"), p, f"edit {i}") for i, p in enumerate(pairs)]
        )
        elapsed = time.perf_counter() - start
    finally:
        await judge.aclose()
    if not all(o.ok for o in outcomes):
        raise SystemExit(f"{sum(not o.ok for o in outcomes)} requests failed: the benchmark is void")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--capacity", type=int, default=4, help="requests each server works on at once")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, default=16, help="client requests in flight per replica")
    args = parser.parse_args()
    servers = [queueing_server(args.capacity, args.latency).start() for _ in range(args.replicas)]
    try:
        urls = [s.base_url for s in servers]
        one = asyncio.run(judge_all(urls[:1], args.requests, args.concurrency))
        before = [len(s.requests) for s in servers]
        many = asyncio.run(judge_all(urls, args.requests, args.concurrency))
        spread = [len(s.requests) - b for s, b in zip(servers, before, strict=True)]
    finally:
        for s in servers:
            s.stop()
    ratio = one / many
    print(
        f"{args.requests} requests, {args.latency:g} s each, servers working on {args.capacity} at once, "
        f"client concurrency {args.concurrency} per replica"
    )
    print(f"  1 replica:   {one:6.2f} s  {args.requests / one:6.2f} req/s")
    print(
        f"  {args.replicas} replicas:  {many:6.2f} s  {args.requests / many:6.2f} req/s  (requests per server: "
        f"{spread})"
    )
    target = TARGET * args.replicas / 3
    print(
        f"  ratio {ratio:.2f} (ideal {args.replicas}, target >= {target:.2f}): {'met' if ratio >= target else 'MISSED'}"
    )
    if ratio < target:
        sys.exit(1)


if __name__ == "__main__":
    main()
