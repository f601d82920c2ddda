"""How long ``ftd run`` takes from the interpreter's start to the control socket answering.

Builds a state directory whose database holds N jobs (running, as a busy
installation's would be), starts ``python -m ftd run`` on it, and times from
the moment the process is spawned until ``ftd status`` gets its answer over
the socket (the first answer, which may say the start is still under way),
and until the answer says the start is done ("ready": every part runs).
The provider's base URL is a closed loopback port: the start must not wait
on the provider. Also times a bare ``import ftd.daemon.app`` and ``import
openai`` in fresh interpreters, for scale. Runs alternate with ``--compare
DIR`` (another checkout's tree, put first on PYTHONPATH), so the medians of
both sit side by side under the same load. Every process runs in the
benchmark's temporary folder: ``python -m`` puts its working directory
first on sys.path, which would otherwise run the tree it was started from.

    python bench/daemon_start.py [--jobs 10000] [--runs 5] [--compare /path/to/other/tree]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ftd.control.client import Client, ClientError
from ftd.store import Store

MODEL = "gpt-4.1-mini-2025-04-14"


async def fill(database: Path, jobs: int) -> None:
    store = await Store.open(database)
    try:
        now = time.time()
        async with store.transaction() as tx:
            await tx.db.executemany(
                "INSERT INTO jobs (job_id, status, model, adopted, created_at, updated_at, "
                "details_at) VALUES (?, 'running', ?, 1, ?, ?, ?)",
                [(f"ftjob-bench{n:08d}", MODEL, now, now, now) for n in range(jobs)],
            )
    finally:
        await store.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far (this machine is shared: wall drifts)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answered_after(config: Path, sock: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Seconds from spawning the daemon to its first answer on the socket, its CPU by
    then, and seconds to the first answer that no longer says ``starting``."""
    started = time.perf_counter()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "ftd", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=config.parent,
    )
    first: tuple[float, float] | None = None
    try:
        deadline = started + 120
        while time.perf_counter() < deadline:
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon exited ({daemon.returncode}) before answering")
            try:
                with Client(sock, timeout=30) as client:
                    answer = client.call("status")
            except ClientError:
                time.sleep(0.005)
                continue
            if first is None:
                first = time.perf_counter() - started, cpu_seconds(daemon.pid)
            if "starting" not in answer:
                return *first, time.perf_counter() - started
            time.sleep(0.005)
        raise SystemExit("no answer (or still starting) on the socket within 120 s")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)


def import_seconds(module: str, env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, env=env, cwd=cwd)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare", type=Path, help="another tree to time, alternated")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="ftd-start-"))
    state = root / "state"
    state.mkdir()
    asyncio.run(fill(state / "ftd.db", args.jobs))
    config = root / "config.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{state}"\ndrop_dir = "{root / "drop"}"\n'
        f'runtime_dir = "{root / "run"}"\n'
        f'[provider]\nkind = "compatible"\nmax_retries = 0\n'
        f'[provider.compatible]\nbase_url = "http://127.0.0.1:{closed_port()}/v1"\n'
    )
    sock = root / "run" / "ftd.sock"
    trees = {"this tree": str(Path(__file__).resolve().parents[1])}
    if args.compare is not None:
        trees["compared"] = str(args.compare.resolve())
    figures: dict[str, dict[str, list[float]]] = {
        name: {
            "start": [],
            "start CPU": [],
            "ready": [],
            "import ftd.daemon.app": [],
            "import openai": [],
        }
        for name in trees
    }
    for _ in range(args.runs):
        for name, tree in trees.items():
            env = {**os.environ, "OPENAI_API_KEY": "bench", "PYTHONPATH": tree}
            wall, cpu, ready = answered_after(config, sock, env)
            figures[name]["start"].append(wall)
            figures[name]["start CPU"].append(cpu)
            figures[name]["ready"].append(ready)
            for module in ("ftd.daemon.app", "openai"):
                figures[name][f"import {module}"].append(import_seconds(module, env, root))
    print(f"{args.jobs} jobs in the database; {args.runs} alternated runs; seconds, median (all)")
    for name, measured in figures.items():
        for what, values in measured.items():
            shown = ", ".join(f"{v:.2f}" for v in values)
            print(f"  {name}: {what}: {statistics.median(values):.3f} ({shown})")
    if args.compare is not None:
        for what in ("start", "start CPU", "ready"):
            mine, other = (statistics.median(figures[n][what]) for n in trees)
            print(f"{what}, this tree / compared: {mine / other:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
