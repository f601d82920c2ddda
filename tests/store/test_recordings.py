"""Recording rows: a name once, an item's row before its request, the interrupted ones lost."""

from __future__ import annotations

import pytest

from ftd.store import Store
from ftd.store import recordings as rows_of

pytestmark = pytest.mark.anyio


async def _new(store: Store, name: str = "kept", model: str = "ft:m") -> int:
    new_id = await rows_of.create(
        store,
        name=name,
        model=model,
        provider="default",
        test_file="/t.jsonl",
        params={"request": {"temperature": 0.0}},
        origin=rows_of.ORIGIN_REQUEST,
    )
    assert new_id is not None
    return new_id


async def _intend(store: Store, recording_id: int, item: int) -> None:
    await rows_of.intend(
        store,
        recording_id,
        item=item,
        line=item + 1,
        prompt_sha256=f"h{item}",
        prompt=[{"role": "user", "content": f"q{item}"}],
        reference="r",
    )


async def test_items_asked_by_an_earlier_life_are_lost_not_asked_again(store: Store) -> None:
    kept = await _new(store)
    await _intend(store, kept, 0)
    await rows_of.answered(
        store, kept, 0, response="a", prompt_tokens=3, completion_tokens=2,
        latency_ms=5.0, attempts=1, cost_usd=0.5,
    )  # fmt: skip
    await _intend(store, kept, 1)
    await _intend(store, kept, 2)
    await rows_of.answered(
        store, kept, 2, response=None, prompt_tokens=0, completion_tokens=0,
        latency_ms=None, attempts=3, cost_usd=0.0, error="model: 500 (after 3 attempts)",
    )  # fmt: skip
    assert await rows_of.start(store, kept, 3) == 1
    assert await rows_of.taken_items(store, kept) == {0, 1, 2}
    assert await rows_of.tally(store, kept) == {"answered": 1, "lost": 1, "failed": 1}
    answers = await rows_of.answers(store, kept)
    assert [a.state for a in answers] == ["answered", "lost", "failed"]
    assert answers[0].prompt == [{"role": "user", "content": "q0"}]
    assert answers[2].prompt_tokens is None
    row = await rows_of.get(store, kept)
    assert row is not None
    assert (row.status, row.total_items, row.requests, row.cost_usd) == ("running", 3, 4, 0.5)
    assert await rows_of.start(store, kept, 3) == 0  # nothing is lost twice


async def test_a_name_is_taken_once_and_reads_find_it(store: Store) -> None:
    first = await _new(store, "kept", "ft:a")
    assert await rows_of.create(
        store, name="kept", model="ft:b", provider="default", test_file="/t",
        params={}, origin=rows_of.ORIGIN_RETIREMENT,
    ) is None  # fmt: skip
    second = await _new(store, "other", "ft:a")
    assert [r.id for r in await rows_of.of_model(store, "ft:a")] == [first, second]
    found = await rows_of.named(store, "other")
    assert found is not None
    assert found.params == {"request": {"temperature": 0.0}}
    assert [r.id for r in await rows_of.to_run(store)] == [first, second]
    await rows_of.finish(store, first, rows_of.SUCCEEDED, None)
    assert [r.id for r in await rows_of.to_run(store)] == [second]
    assert (await rows_of.get(store, first)).status == "succeeded"  # type: ignore[union-attr]
