"""How long producer B's one file waits while producer A floods the drop folder.

Starts an emulator and ``ftd run`` (as root, to give files two owners), lets
producer A drop N small valid datasets at once, waits until ftd has taken
the first few, then drops one dataset of producer B's, and prints: how many
seconds B's file waited from its drop to its verdict, how many of A's were
judged meanwhile, how many of A's per second ftd judged overall, and how many
validation processes it started. Run it on two trees to compare.

    sudo python bench/intake_fairness.py [--files 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from ftd.emulator.process import EmulatorProcess
from tests.daemon.harness import Daemon, good_lines

_SHARED_TIKTOKEN = Path(__file__).resolve().parents[2] / "shared" / "tiktoken"
PRODUCER_A, PRODUCER_B = 60101, 60102  # owners only: no account is needed for a uid
DECIDED = ("awaiting_approval", "rejected", "duplicate", "failed", "missing")


def _drop(folder: Path, name: str, owner: int, seed: str) -> None:
    hidden = folder / f".{name}.part"
    hidden.write_text("\n".join(good_lines(12, seed=seed)) + "\n")
    os.chown(hidden, owner, owner)
    hidden.rename(folder / name)


def _decided(daemon: Daemon, prefix: str) -> list[float]:
    marks = ", ".join("?" * len(DECIDED))
    rows = daemon.query(
        f"SELECT updated_at FROM datasets WHERE name LIKE ? AND state IN ({marks})",  # noqa: S608
        (prefix + "%", *DECIDED),
    )
    return [r["updated_at"] for r in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="producer A's files")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to give up")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the files need two owners", file=sys.stderr)
        return 2
    if "TIKTOKEN_CACHE_DIR" not in os.environ and _SHARED_TIKTOKEN.is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(_SHARED_TIKTOKEN)
    root = Path(tempfile.mkdtemp(prefix="ftd-fairness-"))
    emulator = EmulatorProcess("--speed", "20", log_path=root / "emulator.log")
    emulator.start()
    daemon = Daemon(
        root / "ftd",
        emulator.base_url,
        {"defaults": {"auto_approve": False}, "intake": {"rescan_seconds": 5.0}},
    )
    try:
        daemon.start()
        flood_started = time.time()
        for number in range(args.files):
            _drop(daemon.incoming, f"a{number:05d}.jsonl", PRODUCER_A, f"a{number} ")
        deadline = time.monotonic() + args.timeout
        while len(_decided(daemon, "a")) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        b_dropped = time.time()
        _drop(daemon.incoming, "b.jsonl", PRODUCER_B, "b ")
        while not _decided(daemon, "b") and time.monotonic() < deadline:
            time.sleep(0.1)
        b_decided = _decided(daemon, "b")
        if not b_decided:
            print(f"B's file not judged within {args.timeout:g} s")
            return 1
        a_before = [t for t in _decided(daemon, "a") if b_dropped <= t <= b_decided[0]]
        while len(_decided(daemon, "a")) < args.files and time.monotonic() < deadline:
            time.sleep(0.5)
        a_times = _decided(daemon, "a")
        starts = len(daemon.events("validation_started"))
        # A tree without kept processes starts one per validation.
        processes = len(daemon.events("validation_process_started")) or starts
        figures = {
            "files_a": args.files,
            "b_waited_seconds": round(b_decided[0] - b_dropped, 2),
            "a_judged_while_b_waited": len(a_before),
            "a_judged": len(a_times),
            "a_per_second": round(len(a_times) / max(1e-9, max(a_times) - flood_started), 2),
            "validations": starts,
            "validation_processes": processes,
        }
        print(json.dumps(figures, indent=2))
    finally:
        daemon.close()
        emulator.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
