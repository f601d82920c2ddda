"""How long ``ftd run`` takes from SIGTERM to exit: idle, and with a job and uploads in flight.

Starts an emulator process and the daemon as the end-to-end tests do, sends
SIGTERM, and times until the process has exited (wall clock, including the
interpreter's own shutdown). Prints each run and the median and maximum.

    python bench/stop_time.py [--runs 5]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

import tests.conftest  # noqa: F401 - the offline tokenizer files, no real provider
from ftd.emulator.process import EmulatorProcess
from tests.daemon.harness import Daemon, write_dataset


def _stop_seconds(daemon: Daemon) -> float:
    process = daemon._take()
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(60)
    return time.monotonic() - started


def measure(runs: int, busy: bool) -> list[float]:
    figures: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        emulator = EmulatorProcess("--speed", "1", log_path=Path(folder) / "emulator.log")
        emulator.start()
        try:
            for run in range(runs):
                daemon = Daemon(Path(folder) / f"ftd-{run}", emulator.base_url, {})
                daemon.start()
                if busy:
                    write_dataset(daemon.incoming / "busy.jsonl", 200, seed=f"{run}-")
                    daemon.wait_for("job_create_sent", timeout=60)
                    time.sleep(0.5)  # the create answered, tracking begun
                else:
                    time.sleep(1.0)  # settled: the first scan and the watchers are up
                figures.append(_stop_seconds(daemon))
        finally:
            emulator.stop()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for label, busy in (("idle", False), ("a job running", True)):
        figures = measure(args.runs, busy)
        shown = ", ".join(f"{x:.2f}" for x in figures)
        print(
            f"{label}: SIGTERM to exit {shown} s; median {statistics.median(figures):.2f} s, "
            f"max {max(figures):.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
