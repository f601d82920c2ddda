"""The evaluation pool's throughput over provider latency and concurrency, against the ideal.

For each latency (the emulator's ``--latency-ms``) and each concurrency,
one evaluation runs through the evaluation service as the daemon runs it
(its store, cache, adaptive limits, one commit per item; model-free graders,
so one request per item), and prints: items per second, the ratio to the
ideal (concurrency / latency), the service's CPU per request, and what the
emulator alone delivers at the same point to a bare HTTP client (aiohttp,
no parsing): where that is below the ideal, the emulator is the bottleneck
and the pool's figure is measured against what it can serve.

    python bench/eval_curve.py [--latencies 25,50,100,200,400] [--concurrency 8,32,128]
        [--compare /path/to/other/tree]

Both run on the loop the tree's daemon runs (uvloop where it is installed).
With ``--compare``, each point is measured in fresh processes for this tree
and the other (its ``ftd`` first on the path), in alternating order, and
the two trees' rates and CPU per request are printed side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_throughput import MODEL, evaluate, write_items

from ftd.config import EvaluationSettings, load_settings
from ftd.emulator.process import EmulatorProcess
from ftd.evaluation.service import EvaluationService
from ftd.pace import Pace
from ftd.providers.openai_api import OpenAIProvider
from ftd.store import Store

BODY = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Order 1000: where is my parcel number 0?"}],
    "temperature": 0.0,
    "max_completion_tokens": 1024,
}


def daemon_loop() -> dict[str, bool]:
    """The loop the daemon of the tree on the path runs (a tree from before uvloop: asyncio's).

    The pool and the bare client are measured on it, as ``ftd run`` would serve them.
    """
    try:
        from ftd.daemon.command import loop_options
    except ImportError:
        return {}
    return loop_options()


async def bare_rate(base_url: str, concurrency: int, requests: int) -> float:
    """Chat completions per second a client that only sends and reads bytes gets."""
    done = 0
    async with aiohttp.ClientSession(
        headers={"Authorization": "Bearer bench"},
        connector=aiohttp.TCPConnector(limit=concurrency),
    ) as session:

        async def worker() -> None:
            nonlocal done
            while done < requests:
                done += 1
                async with session.post(f"{base_url}/chat/completions", json=BODY) as answer:
                    await answer.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


async def pool_point(
    root: Path, base_url: str, latency_ms: float, concurrency: int, items: int
) -> tuple[float, float]:
    """(items per second, service CPU ms per request) of one evaluation."""
    import openai

    test_file = write_items(root / f"test-{latency_ms:g}-{concurrency}.jsonl", items)
    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    remote = OpenAIProvider("default", client, pace=Pace(concurrency=8, per_minute=None))
    store = await Store.open(root / f"ftd-{latency_ms:g}-{concurrency}.db")
    try:
        settings = load_settings(None, {"HOME": str(root)}).model_copy(
            update={
                "evaluation": EvaluationSettings(
                    graders=["exact", "f1"],
                    primary_grader="f1",
                    concurrency=concurrency,
                    max_cost_usd=None,
                )
            }
        )
        service = EvaluationService(store, settings, provider=remote, scan_seconds=0.05)
        async with anyio.create_task_group() as tg:
            await tg.start(service.run)
            cpu = time.process_time()
            row, _ = await evaluate(store, service, test_file)
            cpu = time.process_time() - cpu
            tg.cancel_scope.cancel()
        assert row.status == "succeeded", row.error
        seconds = (row.finished_at or 0.0) - (row.started_at or 0.0)
        return items / seconds, 1000 * cpu / max(1, row.requests or items)
    finally:
        await store.close()
        await remote.close()


async def one_point(args: argparse.Namespace) -> None:
    """One point in this process, printed as JSON (for ``--compare``)."""
    latency, level = float(args.latencies), int(args.concurrency)
    ideal = level / (latency / 1000)
    items = max(args.min_items, min(args.max_items, int(ideal * 5)))
    with tempfile.TemporaryDirectory(prefix="ftd-eval-curve-") as folder:
        root = Path(folder)
        with EmulatorProcess("--latency-ms", str(latency), log_path=root / "emu.log") as emulator:
            bare = await bare_rate(emulator.base_url, level, items)
            rate, cpu_ms = await pool_point(root, emulator.base_url, latency, level, items)
    print(json.dumps({"ideal": ideal, "bare": bare, "rate": rate, "cpu_ms": cpu_ms}))


def point_in(
    tree: Path | None, args: argparse.Namespace, latency: str, level: str
) -> dict[str, float]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    command = [sys.executable, __file__, "--point", "--latencies", latency, "--concurrency", level]
    command += ["--min-items", str(args.min_items), "--max-items", str(args.max_items)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=600)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def compare(args: argparse.Namespace) -> None:
    here = Path(__file__).resolve().parent.parent
    other = Path(args.compare).resolve()
    print(
        f"{'latency ms':>10} {'conc':>5} {'ideal/s':>8} {'bare/s':>8} {'this/s':>8} "
        f"{'other/s':>8} {'this/min':>9} {'other/min':>9} {'CPU ms this':>11} "
        f"{'other':>6} {'ratio':>6}"
    )
    ratios = []
    turn = 0
    for latency in args.latencies.split(","):
        for level in args.concurrency.split(","):
            order = [here, other] if turn % 2 == 0 else [other, here]
            turn += 1
            got = {tree: point_in(tree, args, latency, level) for tree in order}
            mine, theirs = got[here], got[other]
            ceiling = min(mine["ideal"], mine["bare"])
            ratio = mine["cpu_ms"] / theirs["cpu_ms"]
            ratios.append(ratio)
            print(
                f"{latency:>10} {level:>5} {mine['ideal']:>8.1f} {mine['bare']:>8.1f} "
                f"{mine['rate']:>8.1f} {theirs['rate']:>8.1f} {mine['rate'] / ceiling:>9.2f} "
                f"{theirs['rate'] / min(theirs['ideal'], theirs['bare']):>9.2f} "
                f"{mine['cpu_ms']:>11.2f} {theirs['cpu_ms']:>6.2f} {ratio:>6.2f}",
                flush=True,
            )
    median = statistics.median(ratios)
    print(f"CPU per request, this tree / other, median over the points: {median:.2f}")


async def main(args: argparse.Namespace) -> None:
    latencies = [float(x) for x in args.latencies.split(",")]
    levels = [int(x) for x in args.concurrency.split(",")]
    print(
        f"{'latency ms':>10} {'conc':>5} {'ideal/s':>8} {'bare/s':>8} {'pool/s':>8} "
        f"{'pool/ideal':>10} {'pool/min(ideal,bare)':>21} {'CPU ms/req':>10}"
    )
    cpu_figures = []
    with tempfile.TemporaryDirectory(prefix="ftd-eval-curve-") as folder:
        root = Path(folder)
        for latency in latencies:
            log = root / f"emu-{latency:g}.log"
            with EmulatorProcess("--latency-ms", str(latency), log_path=log) as emulator:
                for level in levels:
                    ideal = level / (latency / 1000)
                    # About five seconds of work at the ideal rate, within bounds.
                    items = max(args.min_items, min(args.max_items, int(ideal * 5)))
                    bare = await bare_rate(emulator.base_url, level, items)
                    rate, cpu_ms = await pool_point(root, emulator.base_url, latency, level, items)
                    cpu_figures.append(cpu_ms)
                    print(
                        f"{latency:>10g} {level:>5} {ideal:>8.1f} {bare:>8.1f} {rate:>8.1f} "
                        f"{rate / ideal:>10.2f} {rate / min(ideal, bare):>21.2f} {cpu_ms:>10.2f}",
                        flush=True,
                    )
    print(
        f"service CPU per request, median over the points: {statistics.median(cpu_figures):.2f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latencies", default="25,50,100,200,400")
    parser.add_argument("--concurrency", default="8,32,128")
    parser.add_argument("--min-items", type=int, default=200)
    parser.add_argument("--max-items", type=int, default=1500)
    parser.add_argument("--compare", help="another tree to measure, alternated point by point")
    parser.add_argument("--point", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.point:
        anyio.run(one_point, arguments, backend_options=daemon_loop())
    elif arguments.compare:
        compare(arguments)
    else:
        anyio.run(main, arguments, backend_options=daemon_loop())
