"""Evaluation rows: queued once per job and model, items written whole with their spend."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from ftd.store import Store
from ftd.store import evaluations as rows_of
from ftd.store.evaluations import ItemResult, Spend

pytestmark = pytest.mark.anyio


def result(item: int, role: str = "candidate", error: str | None = None) -> ItemResult:
    return ItemResult(
        item=item, role=role, line=item + 1, prompt_sha256="h", question="q", reference="r",
        model="m", response=None if error else "a", prompt_tokens=3, completion_tokens=2,
        scores={"f1": {"score": 1.0}}, latency_ms=5.0, attempts=1, cached=False, error=error,
    )  # fmt: skip


async def test_a_job_model_is_queued_once_and_requests_any_number_of_times(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute(
            "INSERT INTO jobs (job_id, status, model, created_at, updated_at) "
            "VALUES ('ftjob-1', 'succeeded', 'base', 0, 0)"
        )
    common: dict[str, Any] = {
        "model": "ft:x",
        "base_model": "base",
        "test_file": "/t",
        "config": {},
    }
    first = await rows_of.queue(store, kind="job", job_id="ftjob-1", **common)
    assert first is not None
    assert await rows_of.queue(store, kind="job", job_id="ftjob-1", **common) is None
    checkpoint = {**common, "model": "ft:x:ckpt-step-10"}
    assert await rows_of.queue(store, kind="checkpoint", job_id="ftjob-1", **checkpoint)
    one = await rows_of.queue(store, kind="request", **common)
    two = await rows_of.queue(store, kind="request", **common)
    assert one is not None
    assert two is not None
    assert len(await rows_of.of_job(store, "ftjob-1")) == 2
    assert (await rows_of.latest_of_models(store, ["ft:x"]))["ft:x"].id == two


async def test_an_item_commits_whole_or_not_at_all(store: Store) -> None:
    evaluation_id = await rows_of.queue(
        store, kind="request", model="m", base_model=None, test_file="/t", config={}
    )
    assert evaluation_id is not None
    await rows_of.start(store, evaluation_id, 3)
    cache_row = ("key-1", "m", "a", 3, 2)
    await rows_of.record_item(
        store, evaluation_id, [result(0)], [cache_row], Spend(1, 0, 3, 2, 0.25)
    )
    broken = [result(1), result(1, role="nonsense")]  # the second row breaks a CHECK
    with pytest.raises(sqlite3.IntegrityError):
        await rows_of.record_item(
            store, evaluation_id, broken, [("key-2", "m", "b", 1, 1)], Spend(1, 0, 1, 1, 9.0)
        )
    assert await rows_of.done_items(store, evaluation_id) == {0}
    cached = await store.read("SELECT key FROM completion_cache")
    assert [r["key"] for r in cached] == ["key-1"]
    row = await rows_of.get(store, evaluation_id)
    assert row is not None
    assert (row.requests, row.prompt_tokens, row.cost_usd) == (1, 3, 0.25)
    await rows_of.record_item(store, evaluation_id, [result(2, error="boom")], [], Spend(2))
    assert await rows_of.progress(store, evaluation_id) == {"done": 2, "errors": 1}
    items = await rows_of.items(store, evaluation_id)
    assert items[0]["scores"] == {"f1": {"score": 1.0}}
    assert items[1]["error"] == "boom"
