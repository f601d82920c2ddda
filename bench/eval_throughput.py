"""Evaluation throughput: 1,000 items through the pool against an emulator with 200 ms latency.

Starts ``ftd emulator --latency-ms 200``, writes a test file of N items, and
runs one evaluation through the evaluation service as the daemon does (its
own store, cache, adaptive limits, one commit per item) with the model-free
graders only, so each item is exactly one request. It prints items per
second, the ratio to the ideal (concurrency / latency: every slot busy all
the time), the ratio to a one-at-a-time loop (how a simple script
evaluates; timed on a sample of the items), and the requests the emulator
counted. A second run of the same evaluation shows the cache at work.

    python bench/eval_throughput.py [--items 1000] [--concurrency 32] [--latency-ms 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import openai

from ftd.config import EvaluationSettings, load_settings
from ftd.emulator.control import EmulatorControl
from ftd.emulator.process import EmulatorProcess
from ftd.evaluation.graders import f1
from ftd.evaluation.items import read_items
from ftd.evaluation.service import EvaluationService
from ftd.pace import Pace
from ftd.providers.openai_api import OpenAIProvider
from ftd.store import Store
from ftd.store import evaluations as rows_of

MODEL = "gpt-4.1-mini-2025-04-14"
CHAT = "POST /v1/chat/completions"


def write_items(path: Path, count: int) -> Path:
    lines = []
    for i in range(count):
        question = f"Order {1000 + i}: where is my parcel number {i}?"
        answer = f"Parcel {i} of order {1000 + i} is on its way and arrives within 3 days."
        record = {
            "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
        }
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path


async def evaluate(
    store: Store, service: EvaluationService, test_file: Path
) -> tuple[rows_of.EvaluationRow, float]:
    started = time.perf_counter()
    evaluation_id = await service.request(model=MODEL, test_file=test_file)
    while True:
        row = await rows_of.get(store, evaluation_id)
        assert row is not None
        if row.status in rows_of.FINAL:
            return row, time.perf_counter() - started
        await anyio.sleep(0.02)


async def sequential(client: openai.AsyncOpenAI, test_file: Path, count: int) -> float:
    """Items per second of a plain loop: ask, wait, grade, next."""
    items = read_items(test_file, max_items=count)
    started = time.perf_counter()
    for item in items:
        answer = await client.chat.completions.create(
            model=MODEL,
            messages=list(item.prompt),  # type: ignore[arg-type]
            temperature=0.0,
            max_completion_tokens=1024,
        )
        f1(answer.choices[0].message.content or "", item.reference)
    return len(items) / (time.perf_counter() - started)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ftd-eval-bench-") as folder:
        root = Path(folder)
        test_file = write_items(root / "test.jsonl", args.items)
        emulator = EmulatorProcess("--latency-ms", str(args.latency_ms), log_path=root / "emu.log")
        emulator.start()
        control = EmulatorControl(emulator.base_url)
        client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="bench", max_retries=0)
        store = await Store.open(root / "ftd.db")
        remote: OpenAIProvider | None = None
        try:
            settings = load_settings(None, {"HOME": str(root)}).model_copy(
                update={
                    "evaluation": EvaluationSettings(
                        graders=["exact", "f1"],
                        primary_grader="f1",
                        concurrency=args.concurrency,
                        max_cost_usd=None,
                    )
                }
            )
            remote = OpenAIProvider("default", client, pace=Pace(concurrency=8, per_minute=None))
            service = EvaluationService(store, settings, provider=remote, scan_seconds=0.05)
            async with anyio.create_task_group() as tg:
                await tg.start(service.run)
                await control.reset_stats()
                row, seconds = await evaluate(store, service, test_file)
                requests = (await control.stats())["requests"].get(CHAT, 0)
                again, cached_seconds = await evaluate(store, service, test_file)
                requests_again = (await control.stats())["requests"].get(CHAT, 0) - requests
                tg.cancel_scope.cancel()
            assert row.status == "succeeded", row.error
            run_seconds = (row.finished_at or 0.0) - (row.started_at or 0.0)
            per_second = args.items / run_seconds
            ideal = args.concurrency / (args.latency_ms / 1000)
            one_by_one = await sequential(client, test_file, args.sequential_items)
            limit = service.limits(MODEL).state()
        finally:
            await store.close()
            if remote is not None:
                await remote.close()  # its own connections, and the SDK client's
            else:
                await client.close()
            await control.close()
            emulator.stop()
    return {
        "items": args.items,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "seconds": round(run_seconds, 3),
        "seconds_with_queueing": round(seconds, 3),
        "items_per_second": round(per_second, 1),
        "ideal_items_per_second": round(ideal, 1),
        "ratio_to_ideal": round(per_second / ideal, 3),
        "sequential_items_per_second": round(one_by_one, 2),
        "ratio_to_sequential": round(per_second / one_by_one, 1),
        "requests": requests,
        "peak_in_flight": limit["peak"],
        "rerun_seconds": round(cached_seconds, 3),
        "rerun_requests": requests_again,
        "rerun_cached_requests": again.cached_requests,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--sequential-items", type=int, default=25)
    figures = asyncio.run(main(parser.parse_args()))
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
