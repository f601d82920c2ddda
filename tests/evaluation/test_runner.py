"""A whole evaluation against the in-process emulator: verdicts, rows, resume, cache, cost cap."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import openai
import pytest

from ftd.emulator.server import Emulator
from ftd.evaluation import judging
from ftd.store import evaluations as rows_of
from tests.emulator.helpers import FakeClock, chat_dataset
from tests.evaluation.conftest import (
    BASE,
    MakeBench,
    support_pairs,
    support_records,
    train,
    write_test_file,
)

pytestmark = pytest.mark.anyio
PER_ITEM = 6  # two answers, two rubric scores, a pairwise judgement in two orders


async def test_a_fine_tuned_model_beats_its_base_and_every_item_is_recorded(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    model = await train(emulator, clock, support_records(support_pairs(40)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(25, start=40))
    bench = make_bench(judge_repeat_sample=5)
    row = await bench.evaluate(model, test_file)

    assert row.status == "succeeded", row.error
    summary = row.summary
    assert summary is not None
    assert summary["verdict"] == "better"
    assert summary["progress"] == {"done": 25, "total": 25, "errors": 0}
    for name in ("f1", "judge", "pairwise"):
        grader = summary["graders"][name]
        assert grader["verdict"] == "better", (name, grader)
        assert grader["difference"]["low"] > 0, name
        assert grader["tally"]["wins"] > grader["tally"]["losses"], name
    normalized = summary["graders"]["normalized"]
    assert normalized["test"] == "mcnemar"
    # 5 items only the fine-tuned model passed, none only the base: McNemar's p is at best
    # 0.0625, so the pass/fail grader cannot call it at 95%, whatever its bootstrap said
    assert normalized["tally"] == {"wins": 5, "ties": 20, "losses": 0}
    assert normalized["p_value"] == pytest.approx(0.0625)
    assert normalized["verdict"] == "too_few_items"
    assert normalized["difference"]["low"] <= 0
    assert summary["graders"]["judge"]["test"] == "permutation"
    # a Monte-Carlo permutation p-value is never below 1 / (resamples + 1)
    assert summary["graders"]["judge"]["p_value"] < 0.01
    reliability = summary["judge"]
    assert reliability["rubric_agreement"]["n"] == 5  # the repeat sample
    assert reliability["order_agreement"]["n"] == 25
    assert summary["usage"]["requests"] == 25 * PER_ITEM + 5
    assert bench.chat_requests() == 25 * PER_ITEM + 5
    assert row.cost_usd == pytest.approx(summary["cost_usd"], abs=1e-6)
    assert row.cost_usd > 0

    items = await rows_of.items(bench.store, row.id)
    assert len(items) == 50
    candidate = next(r for r in items if r["role"] == "candidate" and r["item"] == 0)
    assert candidate["model"] == model
    assert len(candidate["prompt_sha256"]) == 64
    assert candidate["response"]
    assert candidate["prompt_tokens"] > 0
    assert candidate["completion_tokens"] > 0
    assert candidate["latency_ms"] > 0
    assert candidate["attempts"] == 1
    assert set(candidate["scores"]) == {"normalized", "f1", "judge", "pairwise"}
    assert candidate["scores"]["judge"]["explanation"]
    base = next(r for r in items if r["role"] == "base" and r["item"] == 0)
    assert base["model"] == BASE
    assert base["scores"]["pairwise"]["score"] == 1.0 - candidate["scores"]["pairwise"]["score"]


async def test_a_useless_model_does_not_beat_its_base(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    # Trained on arithmetic, asked about orders: its answers say nothing useful.
    model = await train(emulator, clock, _records(chat_dataset(30)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(20))
    row = await make_bench().evaluate(model, test_file)
    assert row.status == "succeeded", row.error
    assert row.summary is not None
    assert row.verdict != "better"
    assert all(g["verdict"] != "better" for g in row.summary["graders"].values())


async def test_a_second_run_pays_for_nothing_it_has_asked_before(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    model = await train(emulator, clock, support_records(support_pairs(30)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(10, start=30))
    bench = make_bench(judge_repeat_sample=0)
    first = await bench.evaluate(model, test_file)
    asked = bench.chat_requests()
    assert asked == 10 * PER_ITEM

    again = await bench.evaluate(model, test_file)
    assert bench.chat_requests() == asked  # every answer and grade came from the cache
    assert again.requests == 0
    assert again.cached_requests == 10 * PER_ITEM
    assert again.cost_usd == 0
    assert again.summary is not None
    assert first.summary is not None
    assert again.summary["graders"] == first.summary["graders"]

    # Another grader set on the same answers asks only for what is new.
    rerun = make_bench(judge_repeat_sample=3, graders=["exact", "f1", "judge"])
    await rerun.evaluate(model, test_file)
    assert bench.chat_requests() == asked + 3  # only the repeated judge calls


async def test_an_interrupted_evaluation_resumes_with_only_the_missing_items(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    model = await train(emulator, clock, support_records(support_pairs(30)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(30, start=30))
    bench = make_bench(judge_repeat_sample=0, concurrency=2)
    row = await bench.queue(model, test_file)
    evaluation_id = row.id
    emulator.config.latency_ms = 20

    async with anyio.create_task_group() as tg:
        tg.start_soon(bench.runner.run, row)
        while True:
            if len(await rows_of.done_items(bench.store, evaluation_id)) >= 8:
                break
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()  # as a crash would: items in flight are lost

    before = {
        (r["item"], r["role"]): r["finished_at"]
        for r in await rows_of.items(bench.store, evaluation_id)
    }
    done = {item for item, _ in before}
    assert 8 <= len(done) < 30
    interrupted = await rows_of.get(bench.store, evaluation_id)
    assert interrupted is not None
    assert interrupted.status == "running"
    asked = bench.chat_requests()
    # Answers that came back before the stop were kept, each with its cost.
    cached = (await bench.store.read("SELECT count(*) AS n FROM completion_cache"))[0]["n"]
    kept_answers = cached - PER_ITEM * len(done)
    assert interrupted.requests == cached

    finished = await bench.resume(evaluation_id)
    assert finished.status == "succeeded"
    assert bench.chat_requests() - asked == PER_ITEM * (30 - len(done)) - kept_answers
    assert finished.requests + finished.cached_requests == PER_ITEM * 30 + kept_answers
    after = await rows_of.items(bench.store, evaluation_id)
    assert len(after) == 60
    for r in after:
        if (r["item"], r["role"]) in before:
            assert r["finished_at"] == before[(r["item"], r["role"])]
    assert finished.summary is not None
    assert finished.summary["progress"]["done"] == 30


async def test_answers_in_before_a_crash_are_not_paid_for_again(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    """Killed while the pairwise judgements of an item are in flight: its two answers and
    two rubric scores are kept, with their cost, and taking the item up again asks only
    for the two judgements it never got."""
    model = await train(emulator, clock, support_records(support_pairs(20)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(1, start=20))
    bench = make_bench(judge_repeat_sample=0)
    row = await bench.queue(model, test_file)
    evaluation_id = row.id
    answer = bench.remote.chat

    async def comparisons_never_answer(**request: Any) -> Any:
        if request["params"].get("response_format") == judging.PAIRWISE_FORMAT:
            await anyio.sleep_forever()
        return await answer(**request)

    bench.requester._chat = comparisons_never_answer
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(bench.runner.run, row)
            while True:  # until the answers and the rubric scores are in
                stopped = await rows_of.get(bench.store, evaluation_id)
                if stopped is not None and stopped.requests == 4:
                    break
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()  # as a crash would
    await anyio.sleep(0.3)  # nothing more arrives after the crash
    stopped = await rows_of.get(bench.store, evaluation_id)
    assert stopped is not None
    assert await rows_of.done_items(bench.store, evaluation_id) == set()
    assert (stopped.requests, stopped.cost_usd > 0) == (4, True)  # each paid for once

    bench.requester._chat = answer
    asked = bench.chat_requests()
    finished = await bench.resume(evaluation_id)
    assert finished.status == "succeeded"
    assert bench.chat_requests() - asked == 2  # the two orders of the comparison only
    items = await rows_of.items(bench.store, evaluation_id)
    assert {(r["role"], r["cached"]) for r in items} == {("candidate", 1), ("base", 1)}
    assert (finished.requests, finished.cached_requests) == (PER_ITEM, 4)


async def test_the_cost_cap_stops_an_evaluation_that_would_exceed_it(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    model = await train(emulator, clock, support_records(support_pairs(30)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(40, start=30))
    bench = make_bench(judge_repeat_sample=0, max_cost_usd=0.03, concurrency=2)
    row = await bench.evaluate(model, test_file)
    assert row.status == "stopped"
    assert row.error is not None
    assert "cost cap" in row.error
    assert row.cost_usd <= 0.03
    assert row.summary is not None
    done = row.summary["progress"]["done"]
    assert 0 < done < 40
    assert row.summary["stopped_reason"] == row.error
    assert row.verdict is not None  # the items done still give a verdict, with wider intervals


async def test_a_429_storm_slows_the_pool_and_loses_no_item(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    model = await train(emulator, clock, support_records(support_pairs(30)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(20, start=30))
    emulator.config.rate_limit_rate = 0.3
    emulator.config.retry_after_ms = 30
    bench = make_bench(judge_repeat_sample=0, attempts=30, concurrency=8)
    row = await bench.evaluate(model, test_file)
    assert row.status == "succeeded", row.error
    assert row.summary is not None
    assert row.summary["progress"] == {"done": 20, "total": 20, "errors": 0}
    assert row.requests > 20 * PER_ITEM  # the retries are counted
    assert bench.requester.retries == row.requests - 20 * PER_ITEM
    limits = bench.limits.state().values()
    assert sum(int(limit["shrinks"]) for limit in limits) > 0
    assert all(limit["limit"] < limit["ceiling"] for limit in limits)


async def test_items_that_keep_failing_are_recorded_with_their_reason(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(6))
    bench = make_bench(attempts=2)
    row = await bench.evaluate("ft:gpt-4.1-mini-2025-04-14:nobody::missing", test_file)
    assert row.status == "failed"
    assert row.error is not None
    assert "every item failed" in row.error
    items = await rows_of.items(bench.store, row.id)
    candidates = [r for r in items if r["role"] == "candidate"]
    assert len(candidates) == 6  # none dropped
    assert all("404" in r["error"] and r["response"] is None for r in candidates)
    assert all(r["attempts"] == 1 for r in candidates)  # a 404 is not retried

    emulator.config.error_rate = 1.0
    other = write_test_file(tmp_path / "other.jsonl", support_pairs(3, start=6))
    failing = await bench.evaluate(BASE, other, base_model=None)
    errors = [r for r in await rows_of.items(bench.store, failing.id) if r["error"]]
    assert len(errors) == 3
    assert all(r["attempts"] == 2 for r in errors)
    assert all("after 2 attempts" in r["error"] for r in errors)


async def test_gates_promote_and_the_command_runs_with_the_model_name(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    model = await train(emulator, clock, support_records(support_pairs(30)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(12, start=30))
    marker = tmp_path / "promoted.txt"
    script = (
        "import sys, os; open(sys.argv[1], 'w').write(sys.argv[2] + ' ' + os.environ['FTD_MODEL'])"
    )
    bench = make_bench(
        judge_repeat_sample=0,
        gates={"judge": {"grader": "judge", "min_mean": 4.0, "verdict": "better"}},
        promote_command=[sys.executable, "-c", script, str(marker), "{model}"],
    )
    row = await bench.evaluate(model, test_file)
    assert row.promoted == 1
    assert row.summary is not None
    assert row.summary["gates"][0]["passed"] is True
    assert marker.read_text() == f"{model} {model}"
    assert row.promotion is not None
    assert row.promotion["status"] == 0

    # The base against itself through another name is no better: not promoted, nothing run.
    marker.unlink()
    plain = await bench.evaluate(BASE, test_file, base_model="gpt-4.1-nano-2025-04-14")
    assert plain.promoted == 0
    assert not marker.exists()


def _records(data: bytes) -> list[dict[str, object]]:
    import json

    return [json.loads(line) for line in data.splitlines() if line.strip()]


async def test_each_checkpoint_is_evaluated_and_the_best_is_named(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    model = await train(emulator, clock, support_records(support_pairs(30)))
    client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="t", max_retries=0)
    try:
        jobs = [j async for j in client.fine_tuning.jobs.list() if j.fine_tuned_model == model]
        job = jobs[0]
        checkpoints = [c async for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
    finally:
        await client.close()
    assert len(checkpoints) == 3
    bench = make_bench(judge_repeat_sample=0, checkpoints=True)
    async with bench.store.transaction() as tx:
        await tx.execute(
            "INSERT INTO jobs (job_id, status, model, fine_tuned_model, created_at, updated_at) "
            "VALUES (?, 'succeeded', ?, ?, 0, 0)",
            (job.id, BASE, model),
        )
        for c in checkpoints:
            await tx.execute(
                "INSERT INTO job_checkpoints (checkpoint_id, job_id, step, model, created_at) "
                "VALUES (?, ?, ?, ?, 0)",
                (c.id, job.id, c.step_number, c.fine_tuned_model_checkpoint),
            )
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(8, start=30))
    parent_id = await rows_of.queue(
        bench.store,
        kind=rows_of.KIND_JOB,
        model=model,
        base_model=BASE,
        test_file=str(test_file),
        config=bench.settings.model_dump(mode="json"),
        job_id=job.id,
    )
    assert parent_id is not None
    await bench.resume(parent_id)
    children = await rows_of.children(bench.store, parent_id)
    assert sorted(c.model for c in children) == sorted(
        c.fine_tuned_model_checkpoint for c in checkpoints if c.fine_tuned_model_checkpoint != model
    )
    asked = bench.chat_requests()
    for child in children:
        assert child.kind == "checkpoint"
        assert child.config["checkpoints"] is False
        await bench.resume(child.id)
    # Only each checkpoint's own answers were paid for: the base's answers came from the
    # cache, and so did the judge's grades, the emulated checkpoints answering word for
    # word as the final model does.
    assert bench.chat_requests() - asked == len(children) * 8
    parent = await rows_of.get(bench.store, parent_id)
    assert parent is not None
    assert parent.summary is not None
    listed = parent.summary["checkpoints"]
    assert len(listed) == len(children) + 1
    assert all(entry["mean"] is not None for entry in listed)
    assert parent.summary["best_checkpoint"] in {entry["model"] for entry in listed}
