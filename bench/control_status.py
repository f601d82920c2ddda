"""How fast ``ftd status`` answers with 1,000 jobs in the database, client and daemon side.

Fills a fresh state directory with N datasets and their finished jobs (each
with events and per-step metrics, as the tracker leaves them), starts an
emulator and a real ``ftd run`` on it, then measures:

* the wall time of the ``ftd status`` command as a person runs it (the
  installed entry point, a new process each time), median of many runs;
* the daemon's own time to answer ``status`` (its ``control_request`` log
  lines) and the round trip seen by a client that stays connected;
* for scale: an empty interpreter start, and importing the OpenAI SDK alone.

    python bench/control_status.py [--jobs 1000] [--runs 40]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from ftd.control.client import Client
from ftd.emulator.process import EmulatorProcess
from ftd.store import Store

MODEL = "gpt-4.1-mini-2025-04-14"
EVENTS_PER_JOB = 20
STEPS_PER_JOB = 30
FINAL = ("succeeded", "succeeded", "succeeded", "failed", "cancelled")


async def prepare(state: Path, jobs: int) -> None:
    store = await Store.open(state / "ftd.db")
    await store.close()
    now = time.time() - 86_400
    with sqlite3.connect(state / "ftd.db") as db:
        for n in range(1, jobs + 1):
            db.execute(
                "INSERT INTO datasets (id, sha256, name, path, size_bytes, state, tag, report, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'submitted', ?, ?, ?, ?)",
                (
                    n,
                    f"{n:064x}",
                    f"set-{n}.jsonl",
                    f"/drop/processed/set-{n}.jsonl",
                    10_000 + n,
                    f"{n:016x}",
                    json.dumps({"examples": 100, "accepted": True}),
                    now + n,
                    now + n,
                ),
            )
            status = FINAL[n % len(FINAL)]
            job_id = f"ftjob-bench{n:06d}"
            db.execute(
                "INSERT INTO jobs (dataset_id, job_id, status, model, fine_tuned_model, "
                "trained_tokens, created_at, updated_at, finished_at) "
                "VALUES (?, ?, ?, ?, ?, 50000, ?, ?, ?)",
                (
                    n,
                    job_id,
                    status,
                    MODEL,
                    f"ft:{MODEL}:bench::{n:06d}" if status == "succeeded" else None,
                    now + n,
                    now + n + 600,
                    now + n + 600,
                ),
            )
            db.executemany(
                "INSERT INTO job_events (event_id, job_id, created_at, level, type, message, data) "
                "VALUES (?, ?, ?, 'info', 'metrics', ?, ?)",
                [
                    (
                        f"ftevent-{n}-{e}",
                        job_id,
                        int(now) + n + e,
                        f"Step {e}/{EVENTS_PER_JOB}",
                        json.dumps({"step": e, "total_steps": STEPS_PER_JOB, "train_loss": 1.0}),
                    )
                    for e in range(EVENTS_PER_JOB)
                ],
            )
            db.executemany(
                "INSERT INTO job_metrics (job_id, step, train_loss, source) "
                "VALUES (?, ?, ?, 'event')",
                [(job_id, s, 2.0 / (s + 1)) for s in range(1, STEPS_PER_JOB + 1)],
            )


def timed(command: list[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{command} failed: {done.stderr.decode()[-500:]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=40)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ftd-bench-"))
    state = root / "state"
    state.mkdir()
    anyio.run(prepare, state, options.jobs)
    emulator = EmulatorProcess("--speed", "20", log_path=root / "emulator.log")
    emulator.start()
    config = root / "config.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{state}"\nruntime_dir = "{root / "run"}"\n'
        '[provider]\nkind = "compatible"\n'
        f'[provider.compatible]\nbase_url = "{emulator.base_url}"\n'
        '[log]\nformat = "json"\nlevel = "debug"\n'
    )
    env = {**os.environ, "OPENAI_API_KEY": "bench"}
    log_path = root / "daemon.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "ftd", "run", "-c", str(config)], stderr=log, env=env
        )
    socket_path = root / "run" / "ftd.sock"
    try:
        deadline = time.monotonic() + 60
        while b"daemon_started" not in log_path.read_bytes():
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise SystemExit(f"daemon did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        entry = shutil.which("ftd") or str(Path(sys.executable).with_name("ftd"))
        with Client(socket_path) as client:
            answer = client.call("status")
            assert sum(answer["jobs"].values()) == options.jobs, answer["jobs"]
            round_trips = []
            for _ in range(200):
                started = time.perf_counter()
                client.call("status")
                round_trips.append(time.perf_counter() - started)
        status_runs = timed([entry, "status", "--socket", str(socket_path)], options.runs)
        bare = timed([sys.executable, "-c", "pass"], options.runs)
        sdk = timed([sys.executable, "-c", "import openai"], max(5, options.runs // 4))
        served = [
            float(event["ms"])
            for line in log_path.read_text().splitlines()
            if '"control_request"' in line
            for event in [json.loads(line)]
            if event.get("cmd") == "status"
        ]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        emulator.stop()

    def ms(values: list[float], share: float = 0.5) -> str:
        ordered = sorted(values)
        return f"{1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]:.1f} ms"

    print(
        f"database: {options.jobs:,} datasets, {options.jobs:,} jobs, "
        f"{options.jobs * EVENTS_PER_JOB:,} events, {options.jobs * STEPS_PER_JOB:,} metric rows"
    )
    print(f"{'':44}{'median':>10}{'p90':>10}")
    label = "`ftd status` wall time (new process)"
    print(f"{label:44}{ms(status_runs):>10}{ms(status_runs, 0.9):>10}")
    print(
        f"{'daemon time to answer status (its log)':44}{statistics.median(served):>7.2f} ms"
        f"{sorted(served)[int(0.9 * len(served))]:>7.2f} ms"
    )
    print(
        f"{'status round trip, connected client':44}{ms(round_trips):>10}{ms(round_trips, 0.9):>10}"
    )
    print(f"{'python -c pass':44}{ms(bare):>10}{ms(bare, 0.9):>10}")
    sdk_label = 'python -c "import openai"'
    print(f"{sdk_label:44}{ms(sdk):>10}{ms(sdk, 0.9):>10}")
    print(
        f"targets: ftd status < 80 ms median; daemon < 10 ms  ({len(status_runs)} runs, "
        f"{len(served)} answers)"
    )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
