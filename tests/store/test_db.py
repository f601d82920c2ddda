"""The store: migrations, compare-and-set transitions, duplicates, durability across reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from ftd.store import Store, StoreError
from ftd.store.schema import SCHEMA_VERSION

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_open_migrates_and_sets_wal(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        assert await store.schema_version() == SCHEMA_VERSION
        assert await store.integrity_check() == "ok"
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "ftd.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = await Store.open(tmp_path / "ftd.db")  # a second open migrates nothing
    assert await again.schema_version() == SCHEMA_VERSION
    await again.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ftd.db"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this ftd knows"):
        await Store.open(path)


async def test_unopenable_path_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=str(tmp_path / "missing")):
        await Store.open(tmp_path / "missing" / "ftd.db")


async def test_same_content_is_a_duplicate_of_the_first(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    first = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a.jsonl", size_bytes=3)
    second = await store.add_dataset(sha256="aa", name="b.jsonl", path="/in/b.jsonl", size_bytes=3)
    other = await store.add_dataset(sha256="bb", name="a.jsonl", path="/in/a2.jsonl", size_bytes=4)
    assert (first.state, first.duplicate_of) == ("detected", None)
    assert (second.state, second.duplicate_of) == ("duplicate", first.id)
    assert (other.state, other.duplicate_of) == ("detected", None)
    assert [d.id for d in await store.datasets(["detected"])] == [first.id, other.id]
    await store.close()


async def test_transition_is_compare_and_set_and_logged(tmp_path: Path) -> None:
    clock = Clock()
    store = await Store.open(tmp_path / "ftd.db", clock=clock)
    ds = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a", size_bytes=1)
    clock.now = 1_005.0
    report = {"accepted": True, "examples": 12}
    assert await store.transition(ds.id, "detected", "validated", report=report, path="/p/a")
    assert not await store.transition(ds.id, "detected", "rejected")  # no longer detected
    row = await store.dataset(ds.id)
    assert row is not None
    assert (row.state, row.report, row.path, row.updated_at) == ("validated", report, "/p/a", 1_005)
    assert await store.history("dataset", ds.id) == [
        (None, "detected", 1_000.0),
        ("detected", "validated", 1_005.0),
    ]
    with pytest.raises(ValueError, match="not dataset columns"):
        await store.transition(ds.id, "validated", "x", sha256="zz")
    await store.close()


async def test_concurrent_claims_let_exactly_one_win(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    ds = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a", size_bytes=1)
    wins: list[bool] = []

    async def claim() -> None:
        wins.append(await store.transition(ds.id, "detected", "validating"))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(claim)
    assert wins.count(True) == 1
    await store.close()


async def test_due_skips_datasets_waiting_to_retry(tmp_path: Path) -> None:
    clock = Clock()
    store = await Store.open(tmp_path / "ftd.db", clock=clock)
    ds = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a", size_bytes=1)
    await store.transition(ds.id, "detected", "waiting", next_attempt_at=1_060.0, attempts=1)
    assert await store.datasets(["waiting"], due=True) == []
    clock.now = 1_061.0
    assert [d.id for d in await store.datasets(["waiting"], due=True)] == [ds.id]
    await store.close()


async def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    ds = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a", size_bytes=1)

    async def break_midway() -> None:
        async with store.transaction() as db:
            await db.execute("UPDATE datasets SET state = 'broken' WHERE id = ?", (ds.id,))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await break_midway()
    row = await store.dataset(ds.id)
    assert row is not None
    assert row.state == "detected"
    await store.close()


async def test_one_job_per_dataset_is_enforced_by_the_schema(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    ds = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a", size_bytes=1)
    insert = (
        "INSERT INTO jobs (dataset_id, status, model, created_at, updated_at) "
        "VALUES (?, 'intent', 'm', 0, 0)"
    )
    async with store.transaction() as db:
        await db.execute(insert, (ds.id,))
    with pytest.raises(sqlite3.IntegrityError):
        async with store.transaction() as db:
            await db.execute(insert, (ds.id,))
    await store.close()


async def test_committed_state_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ftd.db"
    store = await Store.open(path)
    ds = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a", size_bytes=1)
    await store.transition(ds.id, "detected", "validated", settings={"model": "m"})
    await store.close()
    reopened = await Store.open(path)
    row = await reopened.dataset(ds.id)
    assert row is not None
    assert (row.state, row.settings) == ("validated", {"model": "m"})
    await reopened.close()
