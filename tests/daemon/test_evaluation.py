"""Evaluation end to end: ``ftd run`` and ``ftd emulator`` processes, a dataset dropped in.

A fine-tuned model on templated support answers beats its base with a
significant verdict; a model trained on answers that say nothing about their
questions does not; a SIGKILL in mid-evaluation resumes with only the items
that had no rows; a 429 storm slows the pool down and loses no item.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import Daemon, Emulator
from tests.emulator.helpers import chat_example, support_examples

CHAT = "POST /v1/chat/completions"
# Small and quick: a dozen held-out items, no repeated judge calls (so the
# requests per item are exact), and short scans.
EVALUATION: dict[str, Any] = {"judge_repeat_sample": 0, "resamples": 1000}


def drop(daemon: Daemon, name: str, records: list[dict[str, Any]]) -> None:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    temporary = daemon.incoming / f".{name}.part"
    temporary.write_bytes(data)
    os.replace(temporary, daemon.incoming / name)


def support_records(count: int = 120) -> list[dict[str, Any]]:
    return [chat_example(q, a) for q, a in support_examples(count)]


def useless_records(count: int = 120) -> list[dict[str, Any]]:
    """Answers of random words: no answer says anything about its question."""
    rng = random.Random(5)
    words = [f"w{n}" for n in range(5000)]
    return [
        chat_example(q, " ".join(rng.choice(words) for _ in range(12)))
        for q, _ in support_examples(count)
    ]


def wait_evaluation(daemon: Daemon, name: str, *, timeout: float = 90.0) -> dict[str, Any]:
    """The finished evaluation of the dataset called ``name``."""
    deadline = time.monotonic() + timeout
    while True:
        rows = daemon.query(
            "SELECT e.* FROM evaluations e JOIN datasets d ON d.id = e.dataset_id WHERE d.name = ?",
            (name,),
        )
        if rows and rows[0]["status"] in ("succeeded", "stopped", "failed"):
            assert len(rows) == 1, "one evaluation per job"
            found = dict(rows[0])
            found["summary"] = json.loads(found["summary"]) if found["summary"] else None
            return found
        if time.monotonic() > deadline:
            tail = "\n".join(daemon.log_text().splitlines()[-30:])
            raise AssertionError(f"no finished evaluation of {name}: {rows}\n{tail}")
        time.sleep(0.2)


def item_rows(daemon: Daemon, evaluation_id: int) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in daemon.query(
            "SELECT * FROM evaluation_items WHERE evaluation_id = ? ORDER BY item, role",
            (evaluation_id,),
        )
    ]


def test_fine_tuned_beats_base_and_a_useless_model_does_not(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator, evaluation=EVALUATION)
    daemon.start()
    drop(daemon, "support.jsonl", support_records())
    drop(daemon, "useless.jsonl", useless_records())

    good = wait_evaluation(daemon, "support.jsonl")
    useless = wait_evaluation(daemon, "useless.jsonl")

    assert good["status"] == "succeeded", good["error"]
    summary = good["summary"]
    assert summary["verdict"] == "better"
    judge = summary["graders"]["judge"]
    assert judge["difference"]["low"] > 0  # the whole interval above zero
    assert judge["p_value"] < 0.05
    assert summary["graders"]["pairwise"]["tally"]["losses"] == 0
    assert summary["judge"]["order_agreement"]["n"] == summary["progress"]["total"]
    job = daemon.query("SELECT * FROM jobs WHERE job_id = ?", (good["job_id"],))[0]
    assert good["model"] == job["fine_tuned_model"]
    assert good["base_model"] == job["model"]
    items = item_rows(daemon, good["id"])
    test_split = daemon.query(
        "SELECT examples FROM splits WHERE dataset_id = ? AND side = 'test'",
        (good["dataset_id"],),
    )[0][0]
    assert len(items) == 2 * test_split  # every held-out item, on both sides
    assert all(r["error"] is None and r["response"] for r in items)
    assert good["cost_usd"] > 0
    assert good["prompt_tokens"] > 0

    assert useless["status"] == "succeeded", useless["error"]
    assert useless["summary"]["verdict"] != "better"
    assert useless["summary"]["graders"]["judge"]["verdict"] != "better"
    assert daemon.events("evaluation_finished")
    assert daemon.stop() == 0


def test_sigkill_mid_evaluation_resumes_with_only_the_missing_items(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator, evaluation={**EVALUATION, "concurrency": 1})
    emulator.configure(latency_ms=60)  # slow enough to stop the evaluation half-way
    daemon.start()
    drop(daemon, "support.jsonl", support_records())
    # from the drop: validation, upload, training, then three items (slow on a loaded machine)
    _wait_items(daemon, at_least=3, timeout=180)
    daemon.kill()
    before = {(r["item"], r["role"]): r["finished_at"] for r in _all_items(daemon)}
    done = {item for item, _ in before}
    total_items = daemon.query("SELECT total_items FROM evaluations")[0][0]
    assert 0 < len(done) < total_items  # killed half-way
    # The answers of an item being judged at the kill were kept: not asked again.
    kept = daemon.query("SELECT count(*) FROM completion_cache")[0][0] - 6 * len(done)
    emulator.configure(latency_ms=0)
    _reset_stats(emulator)

    daemon.start()
    evaluation = wait_evaluation(daemon, "support.jsonl")
    assert evaluation["status"] == "succeeded", evaluation["error"]
    resumed = daemon.wait_for("evaluation_resumed")
    assert resumed["done"] == len(done)
    after = item_rows(daemon, evaluation["id"])
    total = evaluation["total_items"]
    assert len(after) == 2 * total
    for row in after:  # finished items were not asked or written again
        if (row["item"], row["role"]) in before:
            assert row["finished_at"] == before[(row["item"], row["role"])]
    # Per missing item: two answers, two rubric scores, the pairwise judgement in two orders.
    assert emulator.requests(CHAT) == 6 * (total - len(done)) - kept
    assert daemon.stop() == 0


def test_a_429_storm_slows_the_pool_and_loses_no_item(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator, evaluation={**EVALUATION, "attempts": 20})
    daemon.start()
    drop(daemon, "support.jsonl", support_records())
    daemon.wait_job("support.jsonl", "succeeded")
    emulator.configure(rate_limit_rate=0.3, retry_after_ms=100)
    evaluation = wait_evaluation(daemon, "support.jsonl")
    emulator.configure(rate_limit_rate=0.0)
    assert evaluation["status"] == "succeeded", evaluation["error"]
    items = item_rows(daemon, evaluation["id"])
    assert len(items) == 2 * evaluation["total_items"]
    assert all(r["error"] is None for r in items)
    assert any(r["attempts"] > 1 for r in items)  # answers that needed a retry
    assert daemon.events("eval_limit_shrank")  # the pool slowed down
    assert evaluation["summary"]["verdict"] == "better"
    assert daemon.stop() == 0


def _all_items(daemon: Daemon) -> list[dict[str, Any]]:
    return [dict(r) for r in daemon.query("SELECT * FROM evaluation_items")]


def _wait_items(daemon: Daemon, *, at_least: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = daemon.query("SELECT count(DISTINCT item) FROM evaluation_items")
        if rows[0][0] >= at_least:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {at_least} items evaluated in {timeout:g} s")
        time.sleep(0.05)


def _reset_stats(emulator: Emulator) -> None:
    emulator._control("/_emulator/reset_stats", {})
