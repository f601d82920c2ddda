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
    batch = await batch_rows.intend(store, evaluation_id, "answers", "t0", "/p", "m", 3, 10)
    # Two lines of one key (both billed by the provider), then a third.
    lines = [("k1", "m", "one", 10, 2, 0.5), ("k1", "m", "one", 10, 2, 0.5)]
    await batch_rows.commit_answers(store, evaluation_id, batch.id, 2, lines)
    await batch_rows.commit_answers(
        store, evaluation_id, batch.id, 3, [("k2", "m", "two", 20, 4, 0.25)]
    )
    row = await rows_of.get(store, evaluation_id)
    assert row is not None
    assert (row.requests, row.prompt_tokens, row.completion_tokens) == (3, 40, 8)
    assert row.cost_usd == pytest.approx(1.25)
    found = await batch_rows.run_of(store, evaluation_id)
    assert found is not None
    assert found.batch_cost_usd == pytest.approx(1.25)
    assert await batch_rows.cached_keys(store, ["k1", "k2", "k3"]) == {"k1", "k2"}
    (after,) = await batch_rows.open_batches(store, evaluation_id, "answers")
    assert after.committed_lines == 3  # where a replay of the output file starts


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
