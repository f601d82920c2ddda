"""Throughput and CPU of `ftd validate` against the tokenizer's ceiling and a naive loop.

Generates realistic chat datasets (a customer-support assistant: one system
prompt, 1-4 exchanges, now and then a tool call) of each size in ``--sizes``
(40 and 200 MB by default, kept in ``--dir`` for the next run), then measures,
as whole processes taking turns ``--repeat`` times:

* the ceiling: tiktoken encoding every string value of every message (the
  strings the naive loop encodes) in two processes, one per core, each given
  half of the strings already extracted; wall time from start to both done,
  and the encoding time alone;
* `ftd validate --json` (all cores): wall time, CPU time of its process tree,
  peak RSS of any process and peak PSS summed over the tree (sampled);
* the naive loop: `json.loads` per line and `tiktoken.encode` per message
  value, one core, as a script would do it.

Ratios are taken within each round (the three runs back to back) and their
median is printed, so that load from elsewhere on the machine moves the three
together rather than deciding a ratio.

Usage: python bench/validate.py [--sizes 40,200] [--repeat 3] [--dir /tmp/ftd-bench]
       [--compare OLD_TREE] [--big-mb 1024]
"""

from __future__ import annotations

import argparse
import json
import marshal
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

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


@dataclass(frozen=True, slots=True)
class Run:
    wall: float
    cpu: float  # user + system seconds of the process and the children it waited for


def timed(argv: list[str], *, env: dict[str, str] | None = None) -> tuple[Run, bytes, TreeMemory]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # cwd=/: `python -m` puts the working directory first on sys.path.
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, cwd="/")
    with TreeMemory(proc.pid) as memory:
        out, _ = proc.communicate()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[:4]} failed with exit status {proc.returncode}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Run(wall, cpu), out, memory


NAIVE = """
import json, sys, tiktoken
enc = tiktoken.get_encoding("o200k_base")
examples = tokens = 0
with open(sys.argv[1], encoding="utf-8") as f:
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
print(examples, tokens)
"""

CEILING = """
import marshal, sys, time, tiktoken
enc = tiktoken.get_encoding("o200k_base")
with open(sys.argv[1], "rb") as f:
    texts = marshal.load(f)
started = time.perf_counter()
for text in texts:
    enc.encode_ordinary(text)
print(time.perf_counter() - started)
"""


def split_texts(path: Path, halves: tuple[Path, Path]) -> int:
    """Every message string value of the file into two marshal files of equal text size."""
    parts: tuple[list[str], list[str]] = ([], [])
    sizes = [0, 0]
    total = 0
    with path.open("rb") as f:
        for line in f:
            for message in orjson.loads(line)["messages"]:
                for value in message.values():
                    if isinstance(value, str):
                        side = 0 if sizes[0] <= sizes[1] else 1
                        parts[side].append(value)
                        sizes[side] += len(value)
                        total += len(value)
    for half, texts in zip(halves, parts, strict=True):
        half.write_bytes(marshal.dumps(texts))
    return total


def run_ceiling(halves: tuple[Path, Path]) -> tuple[Run, float]:
    """(whole-process run of both, the longer of their encoding times alone)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, "-c", CEILING, str(h)], stdout=subprocess.PIPE, cwd="/")
        for h in halves
    ]
    encode = max(float(p.communicate()[0]) for p in procs)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Run(wall, cpu), encode


def ftd_argv(path: Path) -> list[str]:
    return [sys.executable, "-m", "ftd", "validate", "--json", str(path)]


def dataset(workdir: Path, megabytes: int) -> tuple[Path, int]:
    """The data set of that size, generated once and kept with its example count."""
    path = workdir / f"chat-{megabytes}mb.jsonl"
    count_file = path.with_suffix(".count")
    if path.exists() and count_file.exists():
        return path, int(count_file.read_text())
    started = time.perf_counter()
    count = generate(path, megabytes, seed=megabytes)
    count_file.write_text(str(count))
    print(f"generated {path} in {time.perf_counter() - started:.1f} s")
    return path, count


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_size(
    workdir: Path, megabytes: int, repeat: int, compare: Path | None
) -> dict[str, float]:
    path, count = dataset(workdir, megabytes)
    size_mb = path.stat().st_size / 1e6
    halves = (workdir / "texts-0.marshal", workdir / "texts-1.marshal")
    text_chars = split_texts(path, halves)
    old_env = {**os.environ, "PYTHONPATH": str(compare.resolve())} if compare else None
    ceilings: list[Run] = []
    encodes: list[float] = []
    ftds: list[Run] = []
    olds: list[Run] = []
    naives: list[Run] = []
    peak_rss = peak_pss = 0
    report: dict[str, Any] = {}
    naive_out = b""
    for _ in range(max(1, repeat)):
        ceiling, encode = run_ceiling(halves)
        ceilings.append(ceiling)
        encodes.append(encode)
        run, out, memory = timed(ftd_argv(path))
        ftds.append(run)
        report = json.loads(out)
        peak_rss = max(peak_rss, memory.peak_rss_any_kb)
        peak_pss = max(peak_pss, memory.peak_pss_total_kb)
        if old_env is not None:
            olds.append(timed(ftd_argv(path), env=old_env)[0])
        run, naive_out, _ = timed([sys.executable, "-c", NAIVE, str(path)])
        naives.append(run)
    for half in halves:
        half.unlink()
    naive_examples = int(naive_out.split()[0])
    assert report["examples"] == naive_examples == count, (report["examples"], count)

    print(
        f"\n{path.name}: {size_mb:,.1f} MB, {count:,} examples, message text "
        f"{text_chars / 1e6:,.0f} M characters; {len(ftds)} rounds, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    rows = [("ceiling: tiktoken in 2 processes", ceilings), ("ftd validate", ftds)]
    if olds:
        rows.append((f"ftd validate ({compare.name if compare else ''})", olds))
    rows.append(("naive json.loads + encode loop", naives))
    print(f"{'(medians)':36}{'wall s':>8}{'CPU s':>8}{'MB/s':>8}{'examples/s':>12}")
    for label, runs in rows:
        wall = median([r.wall for r in runs])
        cpu = median([r.cpu for r in runs])
        print(f"{label:36}{wall:8.2f}{cpu:8.2f}{size_mb / wall:8.1f}{count / wall:12,.0f}")
    print(f"{'ceiling, encoding time alone':36}{median(encodes):8.2f}")
    of_ceiling = median([c.wall / f.wall for c, f in zip(ceilings, ftds, strict=True)])
    of_encoding = median([e / f.wall for e, f in zip(encodes, ftds, strict=True)])
    cpu_ratio = median([f.cpu / n.cpu for f, n in zip(ftds, naives, strict=True)])
    print(
        f"ftd speed / ceiling: {of_ceiling:.2f} (whole processes), {of_encoding:.2f} "
        f"(against encoding alone); ftd CPU / naive loop CPU: {cpu_ratio:.2f}"
    )
    print(
        "  per round, speed / ceiling: "
        + ", ".join(f"{c.wall / f.wall:.2f}" for c, f in zip(ceilings, ftds, strict=True))
        + "; CPU / naive: "
        + ", ".join(f"{f.cpu / n.cpu:.2f}" for f, n in zip(ftds, naives, strict=True))
    )
    if olds:
        old_ratio = median([c.wall / o.wall for c, o in zip(ceilings, olds, strict=True)])
        old_cpu = median([o.cpu / n.cpu for o, n in zip(olds, naives, strict=True)])
        print(f"  {compare}: speed / ceiling {old_ratio:.2f}, CPU / naive loop {old_cpu:.2f}")
    print(
        f"ftd memory: peak RSS of any process {peak_rss / 1024:,.0f} MiB, peak PSS summed "
        f"over the tree {peak_pss / 1024:,.0f} MiB (workers: {report['workers']}); tokens "
        f"counted {report['stats']['tokens_per_example']['total']:,} (with tools)"
    )
    return {"of_ceiling": of_ceiling, "cpu_ratio": cpu_ratio}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="40,200", help="data set sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/ftd-bench"))
    parser.add_argument(
        "--compare", type=Path, metavar="DIR", help="also time ftd from another source tree"
    )
    parser.add_argument(
        "--big-mb", type=int, default=0, help="also measure memory on a file this large"
    )
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    for size in (int(s) for s in args.sizes.split(",") if s):
        bench_size(args.dir, size, args.repeat, args.compare)
    if args.big_mb:
        big = args.dir / "big.jsonl"
        big_count = generate(big, args.big_mb, seed=2)
        run, out, memory = timed(ftd_argv(big))
        assert json.loads(out)["examples"] == big_count
        size_mb = big.stat().st_size / 1e6
        print(
            f"\nftd on {size_mb:,.0f} MB ({big_count:,} examples, {size_mb / run.wall:,.1f} "
            f"MB/s): peak RSS of any process {memory.peak_rss_any_kb / 1024:,.0f} MiB, "
            f"peak PSS summed over the tree {memory.peak_pss_total_kb / 1024:,.0f} MiB"
        )
        big.unlink()


if __name__ == "__main__":
    main()
