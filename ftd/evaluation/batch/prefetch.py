"""Committing a batch evaluation's items: their answers read from the cache a chunk at a time.

Once the batches are in, every answer an item needs is (almost always) in
the completion cache. Asking the cache once per request, as the live pool
does, would cost a read per request; here the answers of a thousand items
are read in a few queries, handed to the item work as cache hits, and only
what is missing goes to the live requester (which asks the cache again,
then the model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftd.evaluation.cache import cache_key
from ftd.evaluation.pool import Completion, Requester, run_all

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from ftd.evaluation.batch.requests import Plan
    from ftd.evaluation.batch.source import ItemSource
    from ftd.evaluation.items import Item
    from ftd.store import Store

CHUNK = 1000


class PrefetchedRequester(Requester):
    """The live requester, with a chunk's answers already at hand."""

    def __init__(self, live: Requester, store: Store) -> None:
        # Not a requester of its own: it shares the live one's limits, cache and counts.
        self.__dict__.update(live.__dict__)
        self._live = live
        self._store = store
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
        hit = self._hits.get(key)
        if hit is None:
            return await self._live.complete(model, messages, params, repeat=repeat)
        text, prompt_tokens, completion_tokens = hit
        return Completion(model, text, prompt_tokens, completion_tokens, 0.0, 0, True, key)

    async def similarity(self, model: str, first: str, second: str) -> Completion:
        # Never in a batch: asked live (the cache first), counted by the live requester.
        return await self._live.similarity(model, first, second)


async def commit_items(
    plan: Plan,
    requester: PrefetchedRequester,
    todo: ItemSource,
    work: Callable[[Item], Awaitable[None]],
    *,
    in_flight: int,
    admit: Callable[[], bool],
) -> None:
    """Run the item work over ``todo`` a chunk at a time, each chunk's answers read first."""
    async for chunk in todo.chunks(CHUNK):
        answers = {item.index: plan.answers(item) for item in chunk}
        texts = await requester.load([s.key for specs in answers.values() for s in specs])
        judging = []
        for item in chunk:
            known = {
                side: texts[spec.key]
                for side, spec in enumerate(answers[item.index])
                if spec.key in texts
            }
            judging.extend(plan.judging(item, known))
        await requester.load([s.key for s in judging])
        started = await run_all(chunk, work, in_flight=in_flight, admit=admit)
        requester.clear()
        if started < len(chunk):
            return  # the spend cap stopped the items
