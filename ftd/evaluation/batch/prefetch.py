"""Committing a batch evaluation's items: their answers read from the cache a chunk at a time.

Once the batches are in, every answer an item needs is (almost always) in
the completion cache. Asking the cache once per request, as the live pool
does, would cost a read per request; here the answers of a thousand items
are read in a few queries. An item whose every answer and judgement is
among them is graded at once by the item work's own grading (nothing is
asked) and the chunk's such items are written in one commit; an item with
anything missing runs through the item work as a live item does, its
answers at hand handed over as cache hits and only what is missing asked
of the live requester (which asks the cache again, then the model).

Either way the rows are those the live path writes for the same answers,
and exactly once: a chunk's graded items commit together or not at all,
each other item commits on its own, and a resumed evaluation takes up only
the items without rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from ftd.evaluation.cache import cache_key
from ftd.evaluation.pool import Completion, Requester, run_all
from ftd.store import evaluations as rows_of
from ftd.store.evaluations import Spend

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from ftd.evaluation.batch.requests import Plan, Spec
    from ftd.evaluation.batch.source import ItemSource
    from ftd.evaluation.item_work import ItemWork
    from ftd.evaluation.items import Item
    from ftd.store import Store
    from ftd.store.evaluations import ItemResult

# Items read, graded and committed at once. At 100,000 items (bench/eval_batch.py)
# 2,500 took the stage from 22.4 to 19.6 CPU-s against 1,000, and peak RSS from 171
# to 191 MB: fewer commits and round trips, a chunk's answers held a little longer.
CHUNK = 2500


class PrefetchedRequester(Requester):
    """The live requester, with a chunk's answers already at hand."""

    def __init__(self, live: Requester, store: Store) -> None:
        # Not a requester of its own: it shares the live one's limits, cache and counts.
        self.__dict__.update(live.__dict__)
        self._live = live
        self._store = store
        self.store = store  # where the chunk's graded items are written
        self._hits: dict[str, tuple[str, int, int]] = {}

    async def load(self, keys: Sequence[str]) -> dict[str, str]:
        """Read these keys' answers into the chunk; their texts by key."""
        texts: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            rows = await self._store.read(
                "SELECT key, response, prompt_tokens, completion_tokens "  # noqa: S608
                f"FROM completion_cache WHERE key IN ({marks})",
                chunk,
            )
            for row in rows:
                key = str(row["key"])
                self._hits[key] = (row["response"], row["prompt_tokens"], row["completion_tokens"])
                texts[key] = row["response"]
        return texts

    def clear(self) -> None:
        self._hits.clear()

    async def complete(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        *,
        repeat: int = 0,
    ) -> Completion:
        key = cache_key(model, messages, params, repeat=repeat)
        hit = self._hit(model, key)
        if hit is None:
            return await self._live.complete(model, messages, params, repeat=repeat)
        return hit

    def answer_of(self, spec: Spec) -> Completion | None:
        """The request's answer, as ``complete`` gives it, if it is in the chunk."""
        return self._hit(spec.model, spec.key)

    def _hit(self, model: str, key: str) -> Completion | None:
        hit = self._hits.get(key)
        if hit is None:
            return None
        text, prompt_tokens, completion_tokens = hit
        return Completion(model, text, prompt_tokens, completion_tokens, 0.0, 0, True, key)

    async def similarity(self, model: str, first: str, second: str) -> Completion:
        # Never in a batch: asked live (the cache first), counted by the live requester.
        return await self._live.similarity(model, first, second)


async def commit_items(
    plan: Plan,
    requester: PrefetchedRequester,
    todo: ItemSource,
    item_work: ItemWork,
    work: Callable[[Item], Awaitable[None]],
    *,
    in_flight: int,
    admit: Callable[[], bool],
    finished: Callable[[float], None],
) -> None:
    """Commit ``todo`` a chunk at a time, each chunk's answers read first.

    ``work`` is the item work of one item (with its spend counted); an item
    graded from the chunk's answers is admitted by ``admit`` as any other
    and reported to ``finished`` as costing nothing (its requests were paid
    for when their batches came in).
    """
    bulk = item_work.asks_only_batched
    async for chunk in todo.chunks(CHUNK):
        # The hashing and grading of a thousand items runs beside the event loop.
        answers = await anyio.to_thread.run_sync(_answer_specs, plan, chunk)
        texts = await requester.load([s.key for specs in answers.values() for s in specs])
        judging = await anyio.to_thread.run_sync(_judging_specs, plan, chunk, answers, texts)
        await requester.load([s.key for specs in judging.values() for s in specs])
        graded: list[list[ItemResult] | None] = [None] * len(chunk)
        if bulk:
            graded = await anyio.to_thread.run_sync(
                _grade_chunk, item_work, requester, chunk, answers, judging
            )
        rest: list[Item] = []
        rows: list[ItemResult] = []
        asked = admitted = 0
        stopped = False
        for item, results in zip(chunk, graded, strict=True):
            if results is None:
                rest.append(item)
                continue
            if not admit():
                stopped = True
                break
            admitted += 1
            asked += len(answers[item.index]) + len(judging[item.index])
            rows.extend(results)
        try:
            if rows:
                await rows_of.record_items(
                    requester.store, plan.evaluation_id, rows, Spend(cached_requests=asked)
                )
        finally:
            for _ in range(admitted):
                finished(0.0)
        if stopped:
            requester.clear()
            return  # the spend cap stopped the items
        started = await run_all(rest, work, in_flight=in_flight, admit=admit)
        requester.clear()
        if started < len(rest):
            return  # the spend cap stopped the items


def _answer_specs(plan: Plan, chunk: list[Item]) -> dict[int, list[Spec]]:
    return {item.index: plan.answers(item) for item in chunk}


def _judging_specs(
    plan: Plan, chunk: list[Item], answers: dict[int, list[Spec]], texts: dict[str, str]
) -> dict[int, list[Spec]]:
    """Each item's judge requests, for the answers of it that are in."""
    judging: dict[int, list[Spec]] = {}
    for item in chunk:
        known = {
            side: texts[spec.key]
            for side, spec in enumerate(answers[item.index])
            if spec.key in texts
        }
        judging[item.index] = plan.judging(item, known)
    return judging


def _grade_chunk(
    item_work: ItemWork,
    requester: PrefetchedRequester,
    chunk: list[Item],
    answers: dict[int, list[Spec]],
    judging: dict[int, list[Spec]],
) -> list[list[ItemResult] | None]:
    return [
        _graded(item_work, requester, item, answers[item.index], judging[item.index])
        for item in chunk
    ]


def _graded(
    item_work: ItemWork,
    requester: PrefetchedRequester,
    item: Item,
    answer_specs: list[Spec],
    judging_specs: list[Spec],
) -> list[ItemResult] | None:
    """The item's rows if every request it makes is answered in the chunk; else None."""
    answers = []
    for spec in answer_specs:
        answer = requester.answer_of(spec)
        if answer is None:
            return None
        answers.append(answer)
    judgements = []
    for spec in judging_specs:
        judgement = requester.answer_of(spec)
        if judgement is None:
            return None
        judgements.append((spec.slot, judgement))
    return item_work.grade_answered(item, answers, judgements)
