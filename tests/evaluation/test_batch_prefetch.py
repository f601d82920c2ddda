"""Committing a batch evaluation's items a chunk at a time, from answers already in the cache.

A live evaluation first fills the cache with every answer and judgement of
the test file; evaluations of the same items then run through the runner's
batch path with an engine whose batches are already in. The chunk's items
graded at once must give the rows the item work gives one item at a time,
and a chunk's rows commit together or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ftd.evaluation.batch import prefetch
from ftd.evaluation.batch.engine import BatchEngine
from ftd.evaluation.batch.requests import Plan
from ftd.evaluation.batch.stages import Prefilled
from ftd.evaluation.item_work import ItemWork, repeat_sample
from ftd.evaluation.items import read_items
from ftd.evaluation.runner import Runner
from ftd.store import evaluations as rows_of
from tests.evaluation.conftest import (
    PRICING,
    Bench,
    MakeBench,
    support_pairs,
    support_records,
    train,
    write_test_file,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ftd.config.evaluation import EvaluationSettings
    from ftd.emulator.server import Emulator
    from ftd.evaluation.batch.source import ItemSource
    from ftd.evaluation.items import Item
    from ftd.store import Store
    from ftd.store.evaluations import EvaluationRow
    from tests.emulator.helpers import FakeClock

pytestmark = pytest.mark.anyio
ITEMS = 10
GRADERS = ["exact", "f1", "judge", "pairwise"]


class _AnsweredEngine(BatchEngine):
    """A batch engine whose batches are all in: the cache holds every answer already."""

    def __init__(self) -> None:
        pass

    async def prefill(
        self,
        row: EvaluationRow,
        settings: EvaluationSettings,
        todo: ItemSource,
        repeat: frozenset[int],
        estimate: Callable[[Item], float],
    ) -> Prefilled | None:
        return Prefilled(todo, None, Plan(row, settings, repeat))

    async def annotate(self, row: EvaluationRow, summary: dict[str, Any]) -> None:
        return None


def batch_runner(bench: Bench) -> Runner:
    settings = bench.settings
    return Runner(
        bench.store,
        bench.requester,
        lambda _model: PRICING,
        in_flight_for=settings.concurrency_for,
        batch=_AnsweredEngine(),
    )


async def run_batch(bench: Bench, model: str, test_file: Path) -> EvaluationRow:
    queued = await bench.queue(model, test_file)
    await batch_runner(bench).run(queued)
    done = await rows_of.get(bench.store, queued.id)
    assert done is not None
    return done


def count_bulk_commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of items each chunk's single commit wrote, as they are written."""
    written: list[int] = []
    real = rows_of.record_items

    async def counted(store: Store, evaluation_id: int, results: Any, spend: Any) -> None:
        await real(store, evaluation_id, results, spend)
        written.append(len({r.item for r in results}))

    monkeypatch.setattr(rows_of, "record_items", counted)
    return written


async def item_rows(store: Store, evaluation_id: int) -> list[dict[str, Any]]:
    """The evaluation's rows without what names the evaluation or the moment of writing."""
    rows = await rows_of.items(store, evaluation_id)
    for row in rows:
        del row["evaluation_id"], row["finished_at"]
    return rows


@pytest.fixture
async def answered(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> tuple[Bench, str, Path, EvaluationRow]:
    """A bench, a model and a test file whose every request the cache holds, and the
    live evaluation that put them there."""
    model = await train(emulator, clock, support_records(support_pairs(30)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(ITEMS, start=30))
    bench = make_bench(judge_repeat_sample=4, graders=GRADERS)
    live = await bench.evaluate(model, test_file)
    assert live.status == "succeeded", live.error
    return bench, model, test_file, live


async def test_a_chunk_graded_at_once_writes_the_rows_the_item_work_writes(
    answered: tuple[Bench, str, Path, EvaluationRow], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench, model, test_file, live = answered
    asked = bench.chat_requests()
    monkeypatch.setattr(prefetch, "CHUNK", 4)  # three chunks, the last one short

    written = count_bulk_commits(monkeypatch)
    chunked = await run_batch(bench, model, test_file)
    assert written == [4, 4, 2]
    with monkeypatch.context() as one_by_one:
        one_by_one.setattr(ItemWork, "asks_only_batched", property(lambda _self: False))
        itemwise = await run_batch(bench, model, test_file)
    assert written == [4, 4, 2], "one item at a time, through the item work"

    assert bench.chat_requests() == asked, "every answer came from the cache"
    rows = await item_rows(bench.store, chunked.id)
    assert len(rows) == 2 * ITEMS
    assert rows == await item_rows(bench.store, itemwise.id)
    assert all(row["cached"] and row["attempts"] == 0 for row in rows)
    assert {r["response"] for r in rows} == {
        r["response"] for r in await rows_of.items(bench.store, live.id)
    }
    assert rows[0]["scores"]["judge"]["score"] is not None
    assert any("repeat_score" in row["scores"].get("judge", {}) for row in rows)
    for done in (chunked, itemwise):
        assert done.status == "succeeded", done.error
        assert (done.requests, done.prompt_tokens, done.cost_usd) == (0, 0, 0.0)
    assert chunked.cached_requests == itemwise.cached_requests == live.requests
    assert chunked.verdict == itemwise.verdict == live.verdict
    assert chunked.summary is not None
    assert itemwise.summary is not None
    assert live.summary is not None
    assert chunked.summary["graders"] == itemwise.summary["graders"] == live.summary["graders"]


async def test_an_item_with_an_answer_missing_is_asked_live_and_the_rest_of_its_chunk_is_not(
    answered: tuple[Bench, str, Path, EvaluationRow], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench, model, test_file, _live = answered
    monkeypatch.setattr(prefetch, "CHUNK", 4)
    queued = await bench.queue(model, test_file)
    settings = bench.settings
    plan = Plan(queued, settings, frozenset())
    # Item 5's candidate answer was never answered in a batch.
    fifth = read_items(test_file, max_items=None, reinforcement=False)[5]
    missing = plan.answers(fifth)[0].key
    async with bench.store.transaction() as tx:
        await tx.execute("DELETE FROM completion_cache WHERE key = ?", (missing,))
    asked = bench.chat_requests()
    written = count_bulk_commits(monkeypatch)

    await batch_runner(bench).run(queued)
    assert written == [4, 3, 2]  # item 5 on its own
    done = await rows_of.get(bench.store, queued.id)
    assert done is not None
    assert done.status == "succeeded", done.error
    # The missing answer, then the judge on what is new (its rubric and its repeat,
    # both pairwise orders): asked live, the rest of the item from the cache.
    assert bench.chat_requests() - asked == done.requests
    assert 1 <= done.requests <= 5
    rows = await item_rows(bench.store, queued.id)
    assert len(rows) == 2 * ITEMS
    fresh = [r for r in rows if r["item"] == 5 and r["role"] == "candidate"]
    assert fresh[0]["cached"] is False
    assert fresh[0]["attempts"] == 1
    assert all(r["cached"] for r in rows if r["item"] != 5 or r["role"] == "base")


async def test_a_chunk_cut_short_leaves_none_of_its_rows_and_the_resumed_run_writes_them(
    answered: tuple[Bench, str, Path, EvaluationRow], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench, model, test_file, _live = answered
    monkeypatch.setattr(prefetch, "CHUNK", 4)
    reference = await run_batch(bench, model, test_file)

    chunks = 0
    real = rows_of._item_rows

    async def dies_in_the_second(tx: Any, evaluation_id: int, results: Any) -> None:
        nonlocal chunks
        await real(tx, evaluation_id, results)  # written, not committed
        chunks += 1
        if chunks == 2:
            raise RuntimeError("the daemon died inside the second chunk's commit")

    queued = await bench.queue(model, test_file)
    with monkeypatch.context() as dying:
        dying.setattr(rows_of, "_item_rows", dies_in_the_second)
        with pytest.raises(RuntimeError, match="second chunk"):
            await batch_runner(bench).run(queued)
    cut = await rows_of.get(bench.store, queued.id)
    assert cut is not None
    assert cut.status == rows_of.RUNNING
    assert await rows_of.done_items(bench.store, queued.id) == {0, 1, 2, 3}
    # Only the first chunk's spend: its items' two answers, two rubric scores, a
    # pairwise judgement in both orders, and the repeat of those in the sample.
    first = {0, 1, 2, 3}
    assert cut.cached_requests == 6 * len(first) + len(first & repeat_sample(ITEMS, 4))

    await batch_runner(bench).run(cut)
    resumed = await rows_of.get(bench.store, queued.id)
    assert resumed is not None
    assert resumed.status == "succeeded", resumed.error
    assert await item_rows(bench.store, queued.id) == await item_rows(bench.store, reference.id)
    assert resumed.cached_requests == reference.cached_requests
    assert resumed.verdict == reference.verdict
