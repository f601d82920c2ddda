"""Tracking 1,000 running jobs: requests per cycle, change-to-row latency, CPU and memory.

Starts ``ftd emulator`` and creates N long jobs tagged with a fresh state
directory's installation id, records them in that database as ftd does,
then starts a real ``ftd run`` on it and reads the daemon's own
``tracker_cycle`` log lines once every job is running. It then pauses jobs
at the emulator at random moments and times how long each change takes to
reach the daemon's database, reads the daemon's RSS, and finally polls every
job once by id, as a per-job tracker would, for comparison.

    python bench/track_many.py [--jobs 1000] [--poll 5] [--cycles 6] [--changes 10]
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

import openai

from ftd.emulator.control import EmulatorControl
from ftd.emulator.process import EmulatorProcess
from ftd.store import Store
from ftd.tags import INSTANCE_KEY

MODEL = "gpt-4.1-mini-2025-04-14"


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
        file=("bench.jsonl", training_file(200), "application/jsonl"), purpose="fine-tune"
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


def job_status(database: Path, job_id: str) -> str | None:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        row = db.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    return row[0] if row else None


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
    parser.add_argument("--changes", type=int, default=10)
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
        with log_path.open("ab") as log:
            daemon = subprocess.Popen(  # noqa: ASYNC220 - starts a long-lived child, no wait
                [sys.executable, "-m", "ftd", "run", "-c", str(config)],
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
                await wait_until(
                    lambda: len(cycles(log_path)) >= first + args.cycles, 600, "cycles", daemon
                )
                window = time.monotonic() - window_start
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
            wall = statistics.median(c["seconds"] for c in measured)
            print(
                f"cycle wall seconds: median {wall:.3f}; CPU seconds per cycle: "
                f"median {statistics.median(cpu):.3f}, max {max(cpu):.3f}"
            )

            latencies: list[float] = []
            chosen = random.sample(job_ids, args.changes)

            async def change(job_id: str) -> None:
                await asyncio.sleep(random.uniform(0, args.poll * 3))
                await client.fine_tuning.jobs.pause(job_id)
                changed_at = time.monotonic()
                # The daemon's database is the thing measured: poll it.
                while job_status(database, job_id) != "paused":  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                latencies.append(time.monotonic() - changed_at)

            await asyncio.gather(*(change(j) for j in chosen))
            print(
                f"status change -> row in SQLite, {len(latencies)} changes: median "
                f"{statistics.median(latencies):.2f} s, max {max(latencies):.2f} s "
                f"(target <= poll {args.poll:g} s + 2 s)"
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
