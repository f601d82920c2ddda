"""Batch rows: the mode chosen once, output lines committed once, failures bounded by count."""

from __future__ import annotations

import itertools

import pytest

from ftd.store import Store
from ftd.store import batches as batch_rows
from ftd.store import evaluations as rows_of

pytestmark = pytest.mark.anyio


async def evaluation(store: Store) -> int:
    new_id = await rows_of.queue(
        store, kind="request", model="ft:x", base_model=None, test_file="/t", config={}
    )
    assert new_id is not None
    return new_id


async def test_an_output_replayed_after_a_crash_is_counted_and_paid_once(store: Store) -> None:
    evaluation_id = await evaluation(store)
    run = await batch_rows.choose(store, evaluation_id, "batch", "asked for")
    again = await batch_rows.choose(store, evaluation_id, "live", "a later look")
    assert (again.mode, again.token) == ("batch", run.token)  # the first choice stands
    batch = await batch_rows.intend(store, evaluation_id, "answers", "t0", "/p", "m", 4, 10)
    # Two requests of one key (each billed by the provider), a third, and one never answered.
    requests = [("e1/0/answer/0", "k1"), ("e1/1/answer/0", "k1"), ("e1/2/answer/0", "k2")]
    await batch_rows.index_requests(store, batch.id, [*requests, ("e1/3/answer/0", "k3")])
    await batch_rows.index_requests(store, batch.id, requests)  # indexed again: no change
    assert await batch_rows.indexed(store, batch.id) == 4

    def cost(prompt: int, completion: int) -> float:
        return prompt / 100 + completion / 10

    first = [
        batch_rows.OutputLine("e1/0/answer/0", "one", 10, 2),
        batch_rows.OutputLine("e1/0/answer/0", "one", 10, 2),  # said twice: believed once
        batch_rows.OutputLine("e1/1/answer/0", "one", 10, 2),
        batch_rows.OutputLine("e9/0/answer/0", "not ours", 50, 5),
    ]
    assert await batch_rows.commit_lines(store, batch, 4, first, cost) == 2
    second = [
        batch_rows.OutputLine("e1/2/answer/0", "two", 20, 4),
        batch_rows.OutputLine("e1/3/answer/0", None, reason="status 500: boom"),
    ]
    assert await batch_rows.commit_lines(store, batch, 6, second, cost) == 1
    # The whole output read again after a crash: nothing more is counted or paid.
    assert await batch_rows.commit_lines(store, batch, 6, first + second, cost) == 0
    row = await rows_of.get(store, evaluation_id)
    assert row is not None
    assert (row.requests, row.prompt_tokens, row.completion_tokens) == (3, 40, 8)
    assert row.cost_usd == pytest.approx(1.2)
    found = await batch_rows.run_of(store, evaluation_id)
    assert found is not None
    assert found.batch_cost_usd == pytest.approx(1.2)
    assert await batch_rows.cached_keys(store, ["k1", "k2", "k3"]) == {"k1", "k2"}
    (after,) = await batch_rows.open_batches(store, evaluation_id, "answers")
    assert after.committed_lines == 6  # how far the output file is in
    assert await batch_rows.failure_counts(store, evaluation_id, ["e1/3/answer/0"]) == {
        "e1/3/answer/0": 1
    }
    assert await batch_rows.settle(store, batch, "completed") == (3, 1)
    assert await batch_rows.indexed(store, batch.id) == 0  # forgotten once the batch is in
    assert await batch_rows.open_batches(store, evaluation_id, "answers") == []


async def test_a_line_paid_before_its_batch_was_indexed_is_settled_not_paid(store: Store) -> None:
    evaluation_id = await evaluation(store)
    await batch_rows.choose(store, evaluation_id, "batch", "asked for")
    batch = await batch_rows.intend(store, evaluation_id, "answers", "t2", "/p", "m", 2, 10)
    await batch_rows.index_requests(
        store, batch.id, [("e1/0/answer/0", "k0"), ("e1/1/answer/0", "k1")]
    )
    lines = [
        batch_rows.OutputLine("e1/0/answer/0", "in before", 10, 2, paid_before=True),
        batch_rows.OutputLine("e1/1/answer/0", "new", 10, 2),
    ]
    assert await batch_rows.commit_lines(store, batch, 2, lines, lambda p, c: 1.0) == 1
    row = await rows_of.get(store, evaluation_id)
    assert row is not None
    assert (row.requests, row.cost_usd) == (1, 1.0)
    assert await batch_rows.settle(store, batch, "completed") == (2, 0)


async def test_requests_no_line_told_of_fail_with_the_batchs_reason(store: Store) -> None:
    evaluation_id = await evaluation(store)
    await batch_rows.choose(store, evaluation_id, "batch", "asked for")
    batch = await batch_rows.intend(store, evaluation_id, "judging", "t1", "/p", "j", 5, 10)
    await batch_rows.index_requests(
        store, batch.id, [(f"e1/{i}/judge/0", f"k{i}") for i in range(5)]
    )
    answered = [batch_rows.OutputLine("e1/0/judge/0", "fine", 5, 1)]
    assert await batch_rows.commit_lines(store, batch, 1, answered, lambda p, c: 0.0) == 1
    # Two at a time, until none is left without an outcome.
    failed = []
    while count := await batch_rows.fail_unsettled(
        store, batch, "the batch ended expired", limit=2
    ):
        failed.append(count)
    assert failed == [2, 2]
    reasons = await batch_rows.failure_reasons(store, evaluation_id)
    assert [(r["custom_id"], r["reason"]) for r in reasons] == [
        (f"e1/{i}/judge/0", "the batch ended expired") for i in range(1, 5)
    ]
    assert await batch_rows.settle(store, batch, "expired") == (1, 4)
    (row,) = await batch_rows.of_evaluation(store, evaluation_id)
    assert (row.status, row.completed, row.failed, row.committed) == ("expired", 1, 4, 1)


async def test_failures_count_once_per_batch_and_progress_adds_stages_up(store: Store) -> None:
    evaluation_id = await evaluation(store)
    await batch_rows.choose(store, evaluation_id, "batch", "asked for")
    await batch_rows.commit_failures(store, evaluation_id, "t0", [("e1/0/answer/0", "expired")])
    await batch_rows.commit_failures(store, evaluation_id, "t0", [("e1/0/answer/0", "expired")])
    await batch_rows.commit_failures(store, evaluation_id, "t1", [("e1/0/answer/0", "500")])
    counts = await batch_rows.failure_counts(store, evaluation_id, ["e1/0/answer/0", "e1/1/x/0"])
    assert counts == {"e1/0/answer/0": 2}
    first = await batch_rows.intend(store, evaluation_id, "answers", "t0", "/p0", "m", 7, 100)
    await batch_rows.intend(store, evaluation_id, "answers", "t1", "/p1", "m", 3, 40)
    await batch_rows.update(store, first.id, completed=5, failed=1, batch_id="b0")
    progress = await batch_rows.progress(store, evaluation_id)
    assert progress is not None
    assert progress["stages"]["answers"] == {
        "batches": 2, "requests": 10, "completed": 5, "failed": 1, "pending": 4,
    }  # fmt: skip
    assert progress["failed_requests"] == 1
    assert [b.tag for b in await batch_rows.open_batches(store, evaluation_id, "answers")] == [
        "t0",
        "t1",
    ]
    with pytest.raises(ValueError, match="not batch columns"):
        await batch_rows.update(store, first.id, tag="other")


async def test_summary_chunks_give_every_row_once_and_never_cut_an_item(store: Store) -> None:
    evaluation_id = await evaluation(store)
    other = await evaluation(store)
    wanted: list[tuple[int, str]] = []
    async with store.transaction() as tx:
        for owner, items in ((evaluation_id, range(0, 23)), (other, range(5))):
            for item in items:
                # Item 7 has only its candidate row (its base side never came back).
                for role in ("candidate",) if item == 7 else ("candidate", "base"):
                    await tx.execute(
                        "INSERT INTO evaluation_items (evaluation_id, item, role, line, "
                        "prompt_sha256, question, reference, model, scores, attempts, "
                        "finished_at) VALUES (?, ?, ?, 1, 'h', 'q', 'r', 'm', ?, 1, 0)",
                        (owner, item, role, '{"f1": {"score": 1.0, "explanation": "long"}}'),
                    )
                    if owner == evaluation_id:
                        wanted.append((item, role))
    chunks = [c async for c in batch_rows.summary_chunks(store, evaluation_id, size=5)]
    seen = [(r["item"], r["role"]) for chunk in chunks for r in chunk]
    assert sorted(seen) == sorted(wanted)
    assert len(seen) == len(set(seen))
    for first, second in itertools.pairwise(chunks):
        assert first[-1]["item"] < second[0]["item"]  # an item's rows share one chunk
    assert all(len(chunk) <= 5 for chunk in chunks)
    decoded = batch_rows.decode_scores(chunks[0])
    assert decoded[0]["scores"] == {"f1": {"score": 1.0}}
