"""Batch evaluation at scale: N items through the batch engine, against the live pool.

Starts ``ftd emulator`` and, for each mode, an ``ftd run`` daemon of its own
(a fresh state, so neither finds the other's answers in its cache). Each
evaluates the same candidate against the same base on a test file with two
graders, f1 and the pairwise judge (both orders), so every item makes four
requests: two answers and two judgements. The batch run takes ``--items``
items; the live run ``--live-items`` of them (the pool's cost per item does
not depend on how many there are, and a live run of 100,000 items takes
hours). It prints, per mode: the daemon's CPU time (user + system, from
/proc, less what it had used when the evaluation was queued) in all and per
1,000 items, its peak RSS (VmHWM), the requests the emulator received, the
wall time from queueing to the verdict, and the cost; for the batch run also
what the same evaluation costs at live prices. Targets: peak RSS under
250 MB, CPU per 1,000 items at least 10x lower than live, cost exactly half.

    python bench/eval_batch.py [--items 100000] [--live-items 1000] [--batch-requests 50000]
                               [--profile-batch FILE]

``--profile-batch`` records the batch daemon with py-spy (collapsed stacks in
FILE) from the queueing to the verdict, sampling the thread that holds the GIL:
Python's own work, not SQLite's or the kernel's. The figures then include
py-spy's pauses.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from ftd.emulator.process import EmulatorProcess
from tests.daemon.harness import Daemon, Emulator
from tests.daemon.test_evaluation import drop, support_records

BASE = "gpt-4.1-mini-2025-04-14"
TICKS = os.sysconf("SC_CLK_TCK")


def write_items(path: Path, count: int) -> Path:
    """Short items (the socket takes a test file of up to 16 MB)."""
    with path.open("w") as out:
        for i in range(count):
            record = {
                "messages": [
                    {"role": "user", "content": f"Where is parcel {i:06d}?"},
                    {"role": "assistant", "content": f"Parcel {i:06d} arrives Monday."},
                ]
            }
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def train(root: Path, emulator: Emulator) -> str:
    """A fine-tuned candidate (its answers differ from its base's, as in real use)."""
    daemon = Daemon(root / "trainer", emulator.base_url, {"evaluation": {"enabled": False}})
    try:
        daemon.start()
        drop(daemon, "support.jsonl", support_records())
        job = daemon.wait_job("support.jsonl", "succeeded", timeout=300)
        deadline = time.monotonic() + 120
        while not daemon.query("SELECT model_ready_at FROM jobs")[0][0]:
            assert time.monotonic() < deadline, "the new model never answered"
            time.sleep(0.2)
        return str(job["fine_tuned_model"])
    finally:
        daemon.close()


def run_once(
    root: Path,
    emulator: Emulator,
    model: str,
    test_file: Path,
    items: int,
    mode: str,
    batch_requests: int,
    profile: Path | None = None,
) -> dict[str, Any]:
    evaluation = {
        "enabled": False,
        "graders": ["f1", "pairwise"],
        "judge_repeat_sample": 0,
        "resamples": 1000,
        "max_cost_usd": 1_000_000.0,
        "mode": mode,
        "batch_poll_seconds": 0.5,
        "batch_max_requests": batch_requests,
    }
    sections: dict[str, dict[str, Any]] = {
        "evaluation": evaluation,
        "log": {"format": "json", "level": "info"},
        "provider": {"timeout_seconds": 120.0},
        "control": {"max_request_bytes": 16 << 20},
    }
    daemon = Daemon(root / f"ftd-{mode}", emulator.base_url, sections)
    try:
        daemon.start()
        pid = daemon.pid
        cpu_before = cpu_seconds(pid)
        spy = None
        if profile is not None:
            spy = subprocess.Popen(
                [
                    *("py-spy", "record", "--gil", "--pid", str(pid), "--format", "raw"),
                    *("-o", str(profile)),
                ],
                stdout=subprocess.DEVNULL,
            )
        emulator._control("/_emulator/reset_stats", {})
        started = time.monotonic()
        queued = daemon.ftd(
            "eval", model, "--test-file", str(test_file), "--base", BASE, timeout=600
        )
        assert queued.returncode == 0, queued.stderr
        number = int(queued.stdout.split()[0].removeprefix("eval-"))
        while True:
            rows = daemon.query("SELECT * FROM evaluations WHERE id = ?", (number,))
            if rows and rows[0]["status"] in ("succeeded", "stopped", "failed"):
                break
            time.sleep(0.5)
        wall = time.monotonic() - started
        cpu = cpu_seconds(pid) - cpu_before
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        rss = peak_rss_mb(pid)
        stats = emulator._control("/_emulator/stats")
        row = dict(rows[0])
        summary = json.loads(row["summary"] or "{}")
    finally:
        daemon.close()
    return {
        "mode": mode,
        "items": items,
        "status": row["status"],
        "verdict": row["verdict"],
        "cpu_s": round(cpu, 2),
        "cpu_s_per_1000_items": round(cpu * 1000 / items, 3),
        "peak_rss_mb": round(rss, 1),
        "requests_over_network": stats["total"],
        "requests_by_route": stats["requests"],
        "wall_s": round(wall, 1),
        "cost_usd": round(row["cost_usd"], 6),
        "tokens": {"prompt": row["prompt_tokens"], "completion": row["completion_tokens"]},
        "live_cost_usd": (summary.get("cost_comparison") or {}).get("live_usd"),
        "batches": summary.get("batches"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--live-items", type=int, default=1000)
    parser.add_argument("--batch-requests", type=int, default=50_000)
    parser.add_argument("--speed", type=float, default=1000.0)
    parser.add_argument("--profile-batch", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ftd-bench-batch-") as folder:
        root = Path(folder)
        process = EmulatorProcess("--speed", str(args.speed), log_path=root / "emulator.log")
        process.start()
        try:
            emulator = Emulator(process.base_url)
            big = write_items(root / "items.jsonl", args.items)
            small = write_items(root / "live-items.jsonl", args.live_items)
            model = train(root, emulator)
            live = run_once(
                root, emulator, model, small, args.live_items, "live", args.batch_requests
            )
            batch = run_once(
                root,
                emulator,
                model,
                big,
                args.items,
                "batch",
                args.batch_requests,
                args.profile_batch,
            )
        finally:
            process.stop()
    for result in (live, batch):
        print(json.dumps(result, indent=2))
    live_per_item = live["cost_usd"] / live["items"]
    batch_per_item = batch["cost_usd"] / batch["items"]
    print(
        json.dumps(
            {
                "cpu_per_1000_items_live_over_batch": round(
                    live["cpu_s_per_1000_items"] / max(batch["cpu_s_per_1000_items"], 1e-9), 1
                ),
                "cost_per_item_batch_over_live": round(batch_per_item / live_per_item, 6),
                "batch_cost_over_its_live_price": round(
                    batch["cost_usd"] / batch["live_cost_usd"], 6
                )
                if batch["live_cost_usd"]
                else None,
                "batch_peak_rss_under_250_mb": batch["peak_rss_mb"] < 250,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
