"""What a small `ftd validate` costs: wall time of whole runs, and where its imports go.

Writes a 10-line file, then runs `python -c pass`, `ftd validate` on the file
and the tokenizer load alone, alternating, ``--runs`` times each, and prints the
median and spread of each. `python -X importtime` then lists the slowest
imports of one `ftd validate` run. The tokenizer files must be in the cache
(set TIKTOKEN_CACHE_DIR when offline).

Usage: python bench/validate_startup.py [--runs 21] [--compare OLD_TREE]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINE = (
    b'{"messages": [{"role": "system", "content": "You answer in one sentence."}, '
    b'{"role": "user", "content": "What is the capital of France?"}, '
    b'{"role": "assistant", "content": "Paris is the capital of France."}]}\n'
)
LOAD_TOKENIZER = "from ftd.datasets.tokens import load_encoding; load_encoding('o200k_base')"
TIKTOKEN_ALONE = "import tiktoken; tiktoken.get_encoding('o200k_base')"


def wall(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd="/", check=False
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv} failed: {done.stderr.decode(errors='replace')}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu


def slowest_imports(argv: list[str], count: int) -> list[tuple[int, str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv[1:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
        check=False,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if not name.startswith("  "):  # top-level imports only: their figures add up
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="DIR",
        help="also time `ftd validate` from another source tree (a folder holding ftd/)",
    )
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp(prefix="ftd-startup-")) / "ten.jsonl"
    path.write_bytes(LINE * 10)
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "ftd validate (10 lines)": [sys.executable, "-m", "ftd", "validate", str(path)],
        "ftd's tokenizer load": [sys.executable, "-c", LOAD_TOKENIZER],
        "tiktoken.get_encoding": [sys.executable, "-c", TIKTOKEN_ALONE],
    }
    env: dict[str, dict[str, str]] = {}
    if args.compare is not None:
        name = f"ftd validate ({args.compare.name})"
        commands[name] = commands["ftd validate (10 lines)"]
        env[name] = {**os.environ, "PYTHONPATH": str(args.compare.resolve())}
    for name, argv in commands.items():  # warm the page cache
        wall(argv, env.get(name))
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(max(1, args.runs)):
        for name, argv in commands.items():
            times[name].append(wall(argv, env.get(name)))
    print(
        f"{args.runs} runs each, alternated; load average {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} cores"
    )
    print(f"{'':28}{'median s':>10}{'min s':>8}{'max s':>8}{'median CPU s':>14}")
    for name, runs in times.items():
        walls = [w for w, _ in runs]
        cpu = statistics.median(c for _, c in runs)
        print(
            f"{name:28}{statistics.median(walls):10.3f}{min(walls):8.3f}{max(walls):8.3f}"
            f"{cpu:14.3f}"
        )
    print("slowest top-level imports of `ftd validate` (cumulative ms):")
    for micros, name in slowest_imports(commands["ftd validate (10 lines)"], 8):
        print(f"  {micros / 1000:7.1f}  {name}")
    path.unlink()
    path.parent.rmdir()


if __name__ == "__main__":
    main()
