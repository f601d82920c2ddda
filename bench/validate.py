"""Throughput and memory of `ftd validate` against the loop most scripts use.

Generates a realistic chat dataset (a customer-support assistant: one system
prompt, 1-4 exchanges, now and then a tool call), then measures in one run:

* `ftd validate --json` as a subprocess: MB/s, examples/s, peak RSS of any
  process in its tree and the largest sum of PSS over the tree (sampled);
* a straightforward loop: `json.loads` per line and `tiktoken.encode` per
  message value, on one core;
* tiktoken alone encoding the same texts on one core (the ceiling per core);
* peak memory of `ftd validate` on a ~1 GB file.

Each speed figure is the best of ``--repeat`` runs (3 by default), the three
measurements taking turns, so that a burst of load from elsewhere on the
machine does not decide a ratio.

Usage: python bench/validate.py [--size-mb 200] [--big-mb 1024] [--skip-big] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import tiktoken

WORDS = (
    "order shipping refund account password invoice delivery package tracking number "
    "payment card charge subscription plan upgrade cancel return exchange warranty "
    "product size color store pickup address email phone update change help please "
    "thanks hello today tomorrow week days business late missing damaged broken "
    "replacement label receipt discount code coupon price total tax fee credit "
    "balance login reset verify identity security settings notification app website "
    "checkout cart item stock available backorder estimate arrival carrier courier "
    "signature the a an and or but if when where why how what which who is are was "
    "were be been can could would should will may might must do does did have has had "
    "not no yes I you we they it this that these those my your our their me us them "
    "here there to for from with about into over after before during under between "
    "through of on in at by as so because since until while though really very just "
    "also still only "
).split()
SYSTEM = (
    "You are Acme's customer support assistant. Answer politely and concisely, "
    "use the order tools when the customer gives an order number, and never share "
    "another customer's data."
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order by its number.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "Order number."}},
                "required": ["order_id"],
            },
        },
    }
]


def sentence(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice(".?!")


def paragraph(rng: random.Random, sentences: int, low: int, high: int) -> str:
    return " ".join(sentence(rng, low, high) for _ in range(sentences))


def example(rng: random.Random, n: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    out: dict[str, Any] = {"messages": messages}
    for turn in range(rng.randint(1, 4)):
        messages.append({"role": "user", "content": paragraph(rng, rng.randint(1, 4), 6, 18)})
        if turn == 0 and rng.random() < 0.15:
            call_id = f"call_{n}_{turn}"
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": "lookup_order",
                                "arguments": json.dumps({"order_id": f"A{n:08d}"}),
                            },
                        }
                    ],
                }
            )
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": json.dumps({"status": "shipped", "eta_days": n % 7}),
                }
            )
            out["tools"] = TOOLS
        messages.append({"role": "assistant", "content": paragraph(rng, rng.randint(2, 7), 8, 24)})
    return out


def generate(path: Path, megabytes: int, seed: int) -> int:
    rng = random.Random(seed)
    target = megabytes * 1_000_000
    written = 0
    n = 0
    with path.open("wb") as f:
        while written < target:
            batch = b"".join(orjson.dumps(example(rng, n + i)) + b"\n" for i in range(2000))
            f.write(batch)
            written += len(batch)
            n += 2000
    return n


class TreeMemory:
    """Samples the RSS and PSS of a process and its descendants."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_pss_total_kb = 0
        self.peak_rss_any_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _tree(self) -> list[int]:
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo.extend(int(c) for c in f.read().split())
            except OSError:
                continue
        return pids

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            pss_total = 0
            for pid in self._tree():
                try:
                    with open(f"/proc/{pid}/smaps_rollup") as f:
                        for line in f:
                            if line.startswith("Rss:"):
                                self.peak_rss_any_kb = max(
                                    self.peak_rss_any_kb, int(line.split()[1])
                                )
                            elif line.startswith("Pss:"):
                                pss_total += int(line.split()[1])
                except OSError:
                    continue
            self.peak_pss_total_kb = max(self.peak_pss_total_kb, pss_total)


def run_ftd(path: Path) -> tuple[float, dict[str, Any], TreeMemory]:
    env = dict(os.environ)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftd", "validate", "--json", str(path)],
        stdout=subprocess.PIPE,
        env=env,
    )
    with TreeMemory(proc.pid) as memory:
        out, _ = proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"ftd validate failed with exit status {proc.returncode}")
    return elapsed, json.loads(out), memory


def run_loop(path: Path) -> tuple[float, int, int]:
    """The loop most scripts use; returns (seconds, examples, tokens)."""
    enc = tiktoken.get_encoding("o200k_base")
    started = time.perf_counter()
    examples = tokens = 0
    with path.open(encoding="utf-8") as f:
        for line in f:
            data = json.loads(line)
            n = 3
            for message in data["messages"]:
                n += 3
                for value in message.values():
                    if isinstance(value, str):
                        n += len(enc.encode(value))
            examples += 1
            tokens += n
    return time.perf_counter() - started, examples, tokens


def run_tiktoken_only(path: Path) -> tuple[float, int]:
    """Seconds tiktoken spends encoding every message string of the file, on one core."""
    enc = tiktoken.get_encoding("o200k_base")
    spent = 0.0
    text_bytes = 0
    with path.open("rb") as f:
        while True:
            lines = f.readlines(8 << 20)
            if not lines:
                break
            texts = [
                v
                for line in lines
                for m in orjson.loads(line)["messages"]
                for v in m.values()
                if isinstance(v, str)
            ]
            text_bytes += sum(len(t) for t in texts)
            started = time.perf_counter()
            for t in texts:
                enc.encode_ordinary(t)
            spent += time.perf_counter() - started
    return spent, text_bytes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the data sets")
    args = parser.parse_args()

    workdir = Path(args.dir or tempfile.mkdtemp(prefix="ftd-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "chat.jsonl"
    started = time.perf_counter()
    count = generate(data, args.size_mb, seed=1)
    size_mb = data.stat().st_size / 1e6
    print(
        f"data set: {data} {size_mb:,.1f} MB, {count:,} examples "
        f"(generated in {time.perf_counter() - started:.1f} s), cores: {os.cpu_count()}"
    )

    ftd_runs, loop_runs, tik_runs = [], [], []
    for _ in range(max(1, args.repeat)):
        ftd_elapsed, report, memory = run_ftd(data)
        ftd_runs.append(ftd_elapsed)
        loop_elapsed, loop_examples, loop_tokens = run_loop(data)
        loop_runs.append(loop_elapsed)
        tik_elapsed, text_bytes = run_tiktoken_only(data)
        tik_runs.append(tik_elapsed)
    ftd_s, loop_s, tik_s = min(ftd_runs), min(loop_runs), min(tik_runs)
    print(
        "runs (s): ftd "
        + ", ".join(f"{x:.2f}" for x in ftd_runs)
        + " | loop "
        + ", ".join(f"{x:.2f}" for x in loop_runs)
        + " | tiktoken "
        + ", ".join(f"{x:.2f}" for x in tik_runs)
    )
    assert report["examples"] == loop_examples == count, (report["examples"], loop_examples, count)

    rows = [
        ("ftd validate (all cores)", ftd_s),
        ("json.loads + encode loop (1 core)", loop_s),
        ("tiktoken encode alone (1 core)", tik_s),
    ]
    print(f"{'':36}{'seconds':>9}{'MB/s':>9}{'examples/s':>12}")
    for label, seconds in rows:
        print(f"{label:36}{seconds:9.2f}{size_mb / seconds:9.1f}{count / seconds:12,.0f}")
    print(
        f"ratio ftd / loop: {loop_s / ftd_s:.2f}x   ftd / tiktoken-alone ceiling per core: "
        f"{tik_s / ftd_s:.2f}x   (message text is {text_bytes / 1e6:,.0f} MB of the file)"
    )
    print(
        f"tokens: ftd counts {report['stats']['tokens_per_example']['total']:,} "
        f"(with tool definitions and calls), the loop {loop_tokens:,}"
    )
    print(
        f"ftd memory on {size_mb:,.0f} MB: peak RSS of any process "
        f"{memory.peak_rss_any_kb / 1024:,.0f} MiB, peak PSS summed over the process tree "
        f"{memory.peak_pss_total_kb / 1024:,.0f} MiB (workers: {report['workers']})"
    )

    if not args.skip_big:
        big = workdir / "big.jsonl"
        big_count = generate(big, args.big_mb, seed=2)
        big_s, big_report, big_memory = run_ftd(big)
        assert big_report["examples"] == big_count
        print(
            f"ftd memory on {big.stat().st_size / 1e6:,.0f} MB ({big_count:,} examples, "
            f"{big.stat().st_size / 1e6 / big_s:,.1f} MB/s): peak RSS of any process "
            f"{big_memory.peak_rss_any_kb / 1024:,.0f} MiB, peak PSS summed over the tree "
            f"{big_memory.peak_pss_total_kb / 1024:,.0f} MiB"
        )
        big.unlink()
    data.unlink()


if __name__ == "__main__":
    main()
