"""Tracking 1,000 running jobs: requests per cycle, change-to-row latency, CPU and memory.

Starts ``ftd emulator`` and creates N long jobs tagged with a fresh state
directory's installation id, records them in that database as ftd does.
Before any daemon runs it times the emulator alone, from a bare aiohttp
client: one walk through the filtered job list and a page of events for
``ceil(N / 100)`` jobs, a cycle's worth of requests, so that what the
emulator costs is known apart from what the daemon costs. It then starts a
real ``ftd run`` on the database and reads the daemon's own
``tracker_cycle`` log lines once every job is running. It then pauses jobs
at the emulator at random moments and times each change from just before
the pause request is sent (the emulator changes the status while answering
it) to the moment the daemon's row says ``paused``, reads the daemon's RSS,
and finally polls every job once by id, as a per-job tracker would, for
comparison.

    python bench/track_many.py [--jobs 1000] [--poll 5] [--cycles 6] [--changes 20]
                               [--emulator-only] [--profile PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import openai

from ftd.emulator.control import EmulatorControl
from ftd.emulator.process import EmulatorProcess
from ftd.store import Store
from ftd.tags import INSTANCE_KEY

MODEL = "gpt-4.1-mini-2025-04-14"
# 1,000 examples, 50 epochs, batch 1: 50,000 steps of 0.03 s, so no job ends while measured.
EXAMPLES = 1000


def training_file(examples: int) -> bytes:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"What is {i} plus {i}?"},
                    {"role": "assistant", "content": f"{2 * i}"},
                ]
            }
        )
        for i in range(examples)
    ]
    return ("\n".join(lines) + "\n").encode()


async def create_jobs(client: openai.AsyncOpenAI, count: int, instance: str) -> list[str]:
    upload = await client.files.create(
        file=("bench.jsonl", training_file(EXAMPLES), "application/jsonl"), purpose="fine-tune"
    )
    gate = asyncio.Semaphore(32)

    async def one(number: int) -> str:
        async with gate:
            job = await client.fine_tuning.jobs.create(
                model=MODEL,
                training_file=upload.id,
                metadata={INSTANCE_KEY: instance, "bench": str(number)},
                method={
                    "type": "supervised",
                    "supervised": {"hyperparameters": {"n_epochs": 50, "batch_size": 1}},
                },
            )
            return job.id

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def record_jobs(database: Path, job_ids: list[str]) -> None:
    store = await Store.open(database)
    try:
        async with store.transaction() as tx:
            await tx.db.executemany(
                "INSERT INTO jobs (job_id, status, model, adopted, created_at, updated_at) "
                "VALUES (?, 'validating_files', ?, 1, ?, ?)",
                [(job_id, MODEL, time.time(), time.time()) for job_id in job_ids],
            )
    finally:
        await store.close()


def statuses(database: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall())


def paused_rows(database: Path, job_ids: list[str]) -> list[str]:
    marks = ", ".join("?" * len(job_ids))
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute(
            f"SELECT job_id FROM jobs WHERE status = 'paused' AND job_id IN ({marks})",  # noqa: S608
            job_ids,
        ).fetchall()
    return [r[0] for r in rows]


def cycles(log_path: Path) -> list[dict[str, Any]]:
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "tracker_cycle":
            found.append(event)
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def spread(values: list[float], unit: str = "s") -> str:
    return (
        f"median {statistics.median(values):.3f} {unit}, p90 {percentile(values, 0.9):.3f} {unit}, "
        f"max {max(values):.3f} {unit}"
    )


async def emulator_alone(
    base_url: str, instance: str, job_ids: list[str], pid: int
) -> tuple[list[float], list[float], float]:
    """A cycle's requests from a bare client: every list page, then ceil(N / 100) event pages.

    Returns the seconds of each list page, of each event page, and the emulator's CPU.
    """
    headers = {"Authorization": "Bearer bench"}
    lists: list[float] = []
    events: list[float] = []
    cpu = cpu_seconds(pid)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
        after: str | None = None
        for _ in range(math.ceil(len(job_ids) / 100) + 10):
            query = {f"metadata[{INSTANCE_KEY}]": instance, "limit": "100"}
            if after is not None:
                query["after"] = after
            began = time.perf_counter()
            async with http.get(f"{base_url}/fine_tuning/jobs", params=query) as answer:
                page = await answer.json()
            lists.append(time.perf_counter() - began)
            if not page["has_more"] or not page["data"]:
                break
            after = page["data"][-1]["id"]
        for job_id in random.sample(job_ids, math.ceil(len(job_ids) / 100)):
            began = time.perf_counter()
            async with http.get(
                f"{base_url}/fine_tuning/jobs/{job_id}/events", params={"limit": "100"}
            ) as answer:
                await answer.read()
            events.append(time.perf_counter() - began)
    return lists, events, cpu_seconds(pid) - cpu


def memory(pid: int) -> dict[str, int]:
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = int(value.split()[0]) // 1024
    return figures


async def wait_until(
    predicate: Any, limit: float, what: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the daemon exited ({process.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        await asyncio.sleep(0.5)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--poll", type=float, default=5.0)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument(
        "--emulator-only", action="store_true", help="time the emulator alone, then stop"
    )
    parser.add_argument(
        "--profile", type=Path, help="run the daemon under cProfile, its figures written here"
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="ftd-track-many-"))
    database = root / "state" / "ftd.db"
    database.parent.mkdir()
    store = await Store.open(database)
    instance = await store.instance()
    await store.close()

    with EmulatorProcess("--speed", "1", log_path=root / "emulator.log") as emulator:
        client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="bench", max_retries=2)
        started = time.perf_counter()
        job_ids = await create_jobs(client, args.jobs, instance)
        print(f"created {len(job_ids)} jobs in {time.perf_counter() - started:.1f} s")
        await record_jobs(database, job_ids)
        lists, events, emulator_cpu = await emulator_alone(
            emulator.base_url, instance, job_ids, emulator.pid
        )
        print(
            f"emulator alone, bare client: {len(lists)} list pages in {sum(lists):.2f} s "
            f"({spread(lists)} a page); {len(events)} event pages in {sum(events):.2f} s "
            f"({spread(events)} a page); {len(lists) + len(events)} requests at "
            f"{(len(lists) + len(events)) / (sum(lists) + sum(events)):.1f} a second, "
            f"{emulator_cpu:.2f} CPU s in the emulator"
        )
        if args.emulator_only:
            await client.close()
            return

        config = root / "config.toml"
        config.write_text(
            f'[paths]\nstate_dir = "{root / "state"}"\ndrop_dir = "{root / "drop"}"\n'
            f'runtime_dir = "{root / "run"}"\n'
            f'[provider]\nkind = "compatible"\nmax_retries = 5\n'
            f'[provider.compatible]\nbase_url = "{emulator.base_url}"\n'
            f"[tracker]\npoll_seconds = {args.poll}\n"
            f'[log]\nformat = "json"\nlevel = "debug"\n'
        )
        log_path = root / "ftd.log"
        env = {**os.environ, "OPENAI_API_KEY": "bench"}
        profiler = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
        with log_path.open("ab") as log:
            daemon = subprocess.Popen(  # noqa: ASYNC220 - starts a long-lived child, no wait
                [sys.executable, *profiler, "-m", "ftd", "run", "-c", str(config)],
                stderr=log,
                stdout=subprocess.DEVNULL,
                env=env,
            )
        try:
            await wait_until(
                lambda: statuses(database).get("running", 0) == args.jobs,
                600,
                "all running",
                daemon,
            )
            settle = len(cycles(log_path))
            print(f"all {args.jobs} jobs running in the daemon's database after {settle} cycles")
            await wait_until(
                lambda: len(cycles(log_path)) >= settle + 2, 120, "settled cycles", daemon
            )
            async with EmulatorControl(emulator.root_url) as control:
                await control.reset_stats()
                first = len(cycles(log_path))
                window_start = time.monotonic()
                daemon_cpu = cpu_seconds(daemon.pid)
                await wait_until(
                    lambda: len(cycles(log_path)) >= first + args.cycles, 600, "cycles", daemon
                )
                window = time.monotonic() - window_start
                daemon_cpu = cpu_seconds(daemon.pid) - daemon_cpu
                sent = sum((await control.stats())["requests"].values())
            measured = cycles(log_path)[first : first + args.cycles]
            per_cycle = [
                c["list"] + c["retrieve"] + c["events"] + c["checkpoints"] + c["other"]
                for c in measured
            ]
            changed = [c["changed"] for c in measured]
            target = [2 * math.ceil(args.jobs / 100) + n for n in changed]
            cpu = [c["cpu_seconds"] for c in measured]
            print(
                f"requests per cycle: {per_cycle} (lists {[c['list'] for c in measured]}, "
                f"events {[c['events'] for c in measured]}, changed {changed})"
            )
            print(f"target per cycle (2 x ceil(N/100) + changed): {target}")
            print(
                f"requests the emulator counted in {window:.1f} s: {sent} "
                f"({sent / len(measured):.1f} per cycle)"
            )
            walls = [c["seconds"] for c in measured]
            print(f"cycle wall seconds: {spread(walls)}")
            print(
                f"CPU seconds per cycle, as the daemon logs them: {spread(cpu)} "
                f"(target < 25% of the poll interval: {args.poll * 0.25:.2f} s)"
            )
            print(
                f"the daemon process's whole CPU over those {window:.1f} s: {daemon_cpu:.2f} s, "
                f"{daemon_cpu / args.cycles:.3f} s a cycle, "
                f"{100 * daemon_cpu / window:.0f}% of one core (all it did, between cycles too)"
            )

            chosen = random.sample(job_ids, args.changes)
            sent_at: dict[str, float] = {}
            answered_in: list[float] = []

            async def change(job_id: str) -> None:
                await asyncio.sleep(random.uniform(0, args.poll * 3))
                began = time.monotonic()
                sent_at[job_id] = began
                await client.fine_tuning.jobs.pause(job_id)
                answered_in.append(time.monotonic() - began)

            async def watch() -> list[float]:
                """When each paused job's row says so, by one reader polling all of them."""
                latencies: list[float] = []
                pending = set(chosen)
                deadline = time.monotonic() + args.poll * 3 + 120
                while pending and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                    asked = [j for j in pending if j in sent_at]
                    if not asked:
                        continue
                    now = time.monotonic()
                    for job_id in paused_rows(database, asked):
                        latencies.append(now - sent_at[job_id])
                        pending.discard(job_id)
                if pending:
                    raise SystemExit(f"{len(pending)} paused jobs never reached the database")
                return latencies

            watched = asyncio.create_task(watch())
            await asyncio.gather(*(change(j) for j in chosen))
            latencies = await watched
            print(
                f"status change -> row in SQLite, {len(latencies)} pauses, timed from just "
                f"before each pause request: {spread(latencies)} "
                f"(target <= poll {args.poll:g} s + 2 s); the pause answers took "
                f"{spread(answered_in)}"
            )
            print(f"daemon memory: {memory(daemon.pid)} MiB (target RSS < 250)")
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)

        naive_started = time.perf_counter()
        cpu_before = time.process_time()
        gate = asyncio.Semaphore(16)

        async def retrieve(job_id: str) -> None:
            async with gate:
                await client.fine_tuning.jobs.retrieve(job_id)

        async with EmulatorControl(emulator.root_url) as control:
            await control.reset_stats()
            await asyncio.gather(*(retrieve(j) for j in job_ids))
            naive = sum((await control.stats())["requests"].values())
        print(
            f"per-job polling, one cycle: {naive} requests in "
            f"{time.perf_counter() - naive_started:.2f} s, "
            f"{time.process_time() - cpu_before:.2f} CPU s in the client "
            f"(ftd's median cycle: {statistics.median(per_cycle)} requests; "
            f"ratio {naive / statistics.median(per_cycle):.0f}x)"
        )
        await client.close()
    print(f"logs in {root}")


if __name__ == "__main__":
    asyncio.run(main())
