"""How much the emulator sustains: 1,000 concurrent jobs, then a mixed polling load.

Starts ``ftd emulator`` as a child process on 127.0.0.1, uploads a few
training files, creates the jobs concurrently through the async SDK, then
runs N clients (spread over client processes, since the SDK spends more CPU
per request than the emulator does) that retrieve jobs, list events and list
jobs by metadata for a fixed time. ``--client http`` drives the same load
with bare aiohttp requests, to show the emulator's own ceiling. Prints
throughput, latency percentiles, errors, the emulator's CPU use and RSS.
Everything is bounded (request count and time), so it always stops.

    python bench/emulator.py [--jobs 1000] [--clients 32] [--duration 20] [--client sdk|http]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import openai

from ftd.emulator.control import EmulatorControl
from ftd.emulator.process import EmulatorProcess

MODEL = "gpt-4.1-mini-2025-04-14"
MAX_REQUESTS_PER_CLIENT = 200_000
Call = Callable[[str, str, int], Awaitable[None]]  # (kind, job id, metadata value)


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    started: float = float("inf")  # wall-clock window in which requests were sent
    ended: float = 0.0

    def merge(self, other: LoadResult) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.started = min(self.started, other.started)
        self.ended = max(self.ended, other.ended)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def training_file(index: int, examples: int) -> bytes:
    lines = []
    for i in range(examples):
        record = {
            "messages": [
                {"role": "system", "content": "You answer order questions."},
                {"role": "user", "content": f"Set {index}: where is order {i}?"},
                {"role": "assistant", "content": f"Order {i} of set {index} ships tomorrow."},
            ]
        }
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def create_jobs(
    client: openai.AsyncOpenAI, files: list[str], count: int
) -> tuple[list[str], int]:
    async def one(i: int) -> str | None:
        try:
            job = await client.fine_tuning.jobs.create(
                model=MODEL, training_file=files[i % len(files)], metadata={"bench": str(i % 10)}
            )
        except openai.APIError:
            return None
        return job.id

    results = await asyncio.gather(*(one(i) for i in range(count)))
    created = [r for r in results if r is not None]
    return created, count - len(created)


async def poll(call: Call, jobs: list[str], duration: float, seed: int) -> LoadResult:
    """One client: 50 % retrieve, 30 % events, 20 % list by metadata, until time is up."""
    rng = random.Random(seed)
    result = LoadResult(started=time.time())
    deadline = time.perf_counter() + duration
    for _ in range(MAX_REQUESTS_PER_CLIENT):
        if time.perf_counter() >= deadline:
            break
        roll = rng.random()
        kind = "retrieve" if roll < 0.5 else ("events" if roll < 0.8 else "list")
        started = time.perf_counter()
        try:
            await call(kind, rng.choice(jobs), rng.randrange(10))
        except (openai.APIError, aiohttp.ClientError):
            result.errors += 1
        result.latencies.append(time.perf_counter() - started)
    result.ended = time.time()
    return result


async def _sdk_clients(
    base_url: str, jobs: list[str], clients: int, duration: float, seed: int
) -> LoadResult:
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key="bench", max_retries=0, timeout=60
    ) as client:

        async def call(kind: str, job_id: str, tag: int) -> None:
            if kind == "retrieve":
                await client.fine_tuning.jobs.retrieve(job_id)
            elif kind == "events":
                await client.fine_tuning.jobs.list_events(job_id, limit=20)
            else:
                await client.fine_tuning.jobs.list(limit=20, metadata={"bench": str(tag)})

        results = await asyncio.gather(
            *(poll(call, jobs, duration, seed + i) for i in range(clients))
        )
    total = LoadResult()
    for one in results:
        total.merge(one)
    return total


async def _http_clients(
    base_url: str, jobs: list[str], clients: int, duration: float, seed: int
) -> LoadResult:
    headers = {"Authorization": "Bearer bench"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def call(kind: str, job_id: str, tag: int) -> None:
            if kind == "retrieve":
                url, params = f"{base_url}/fine_tuning/jobs/{job_id}", {}
            elif kind == "events":
                url, params = f"{base_url}/fine_tuning/jobs/{job_id}/events", {"limit": "20"}
            else:
                url, params = (
                    f"{base_url}/fine_tuning/jobs",
                    {"limit": "20", "metadata[bench]": str(tag)},
                )
            async with session.get(url, params=params) as response:
                await response.read()
                response.raise_for_status()

        results = await asyncio.gather(
            *(poll(call, jobs, duration, seed + i) for i in range(clients))
        )
    total = LoadResult()
    for one in results:
        total.merge(one)
    return total


def load_worker(
    kind: str, base_url: str, jobs: list[str], clients: int, duration: float, seed: int
) -> LoadResult:
    """One client process."""
    run_clients = _sdk_clients if kind == "sdk" else _http_clients
    return asyncio.run(run_clients(base_url, jobs, clients, duration, seed))


async def mixed_load(args: argparse.Namespace, base_url: str, jobs: list[str]) -> LoadResult:
    loop = asyncio.get_running_loop()
    processes = max(1, args.processes)
    shares = [args.clients // processes + (i < args.clients % processes) for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    total = LoadResult()
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        futures = [
            loop.run_in_executor(
                pool, load_worker, args.client, base_url, jobs, share, args.duration, 1000 * i
            )
            for i, share in enumerate(shares)
            if share
        ]
        for one in await asyncio.gather(*futures):
            total.merge(one)
    return total


async def run(args: argparse.Namespace) -> None:
    emulator = EmulatorProcess("--speed", str(args.speed), "--log-level", "warning")
    await asyncio.to_thread(emulator.start)
    try:
        rss_start = rss_kib(emulator.pid)
        async with (
            openai.AsyncOpenAI(
                base_url=emulator.base_url, api_key="bench", max_retries=0, timeout=120
            ) as client,
            EmulatorControl(emulator.root_url) as control,
        ):
            files = []
            for i in range(args.files):
                content = training_file(i, args.examples)
                created = await client.files.create(
                    file=(f"bench-{i}.jsonl", content, "text/jsonl"), purpose="fine-tune"
                )
                files.append(created.id)
            started = time.perf_counter()
            cpu_before = cpu_seconds(emulator.pid)
            jobs, create_errors = await create_jobs(client, files, args.jobs)
            create_wall = time.perf_counter() - started
            create_cpu = cpu_seconds(emulator.pid) - cpu_before
            created_state = await control.state()
            rss_after_create = rss_kib(emulator.pid)

            await control.reset_stats()
            cpu_before = cpu_seconds(emulator.pid)
            load = await mixed_load(args, emulator.base_url, jobs)
            load_cpu = cpu_seconds(emulator.pid) - cpu_before
            stats = await control.stats()
            end_state = await control.state()
        rss_end = rss_kib(emulator.pid)
    finally:
        await asyncio.to_thread(emulator.stop)

    window = load.ended - load.started
    count = len(load.latencies)
    print(
        f"jobs created:        {len(jobs)} of {args.jobs} in {create_wall:.2f} s "
        f"({len(jobs) / create_wall:.0f} creates/s), {create_errors} errors; "
        f"emulator CPU {create_cpu:.2f} s"
    )
    print(f"job statuses:        after creates {created_state['jobs']}, at end {end_state['jobs']}")
    print(
        f"mixed load:          {args.client} client, {args.clients} clients in "
        f"{args.processes} processes, {window:.1f} s, {count} requests "
        f"({stats['total']} counted by the emulator)"
    )
    print(f"sustained:           {count / window:.0f} requests/s")
    print(
        f"latency:             p50 {percentile(load.latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(load.latencies, 0.99) * 1000:.1f} ms, "
        f"mean {statistics.fmean(load.latencies) * 1000:.1f} ms"
    )
    print(f"errors:              {load.errors} (statuses {stats['statuses']})")
    print(
        f"emulator CPU:        {load_cpu:.1f} s during the load, "
        f"{count / max(load_cpu, 1e-9):.0f} requests per emulator CPU-second"
    )
    print(
        f"emulator RSS:        start {rss_start / 1024:.1f} MiB, after creates "
        f"{rss_after_create / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--examples", type=int, default=50, help="examples per training file")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2, help="client processes for the load")
    parser.add_argument("--client", choices=("sdk", "http"), default="sdk")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of mixed load")
    parser.add_argument(
        "--speed", type=float, default=0.25, help="job clock speed (keeps the jobs active)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
