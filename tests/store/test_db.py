"""The store: migrations, compare-and-set transitions, duplicates, durability across reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from ftd.store import Store, StoreError
from ftd.store.schema import SCHEMA_VERSION
from ftd.store.tracking import Cycle, JobUpdate

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ftd.store.db import Tx

pytestmark = pytest.mark.anyio


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


async def test_original_of_is_the_first_live_dataset_with_that_content(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    first = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a.jsonl", size_bytes=3)
    second = await store.add_dataset(sha256="aa", name="b.jsonl", path="/in/b.jsonl", size_bytes=3)
    other = await store.add_dataset(sha256="bb", name="a.jsonl", path="/in/a2.jsonl", size_bytes=4)
    assert {first.state, second.state, other.state} == {"detected"}
    assert first.tag != second.tag
    assert await store.original_of(first) is None  # nothing came before it
    found = await store.original_of(second)
    assert found is not None
    assert found.id == first.id
    assert await store.original_of(other) is None
    # A copy of a rejected dataset is a fresh attempt, not a duplicate.
    assert await store.transition(first.id, "detected", "rejected")
    assert await store.original_of(second) is None
    await store.close()


async def test_moves_are_recorded_with_the_row_and_finished_apart(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    ds = await store.add_dataset(
        sha256="aa",
        name="a.jsonl",
        path="/in/a.jsonl",
        size_bytes=3,
        moves={"dataset": ("/in/a.jsonl", "/work/a.jsonl"), "sidecar": ("/in/a.toml", "/w/a.toml")},
        tag="feedfacefeedface",
    )
    assert ds.tag == "feedfacefeedface"
    pending = await store.pending_moves()
    assert [(m.role, m.moving_from, m.path) for m in pending] == [
        ("dataset", "/in/a.jsonl", "/work/a.jsonl"),
        ("sidecar", "/in/a.toml", "/w/a.toml"),
    ]
    await store.finish_move(ds.id, "dataset")
    assert [m.role for m in await store.pending_moves()] == ["sidecar"]
    async with store.transaction() as tx:
        assert await tx.transition(
            ds.id, "detected", "rejected", moves={"dataset": ("/work/a.jsonl", "/rej/a.jsonl")}
        )
    files = await store.files(ds.id)
    assert (files["dataset"].path, files["dataset"].moving_from) == (
        "/rej/a.jsonl",
        "/work/a.jsonl",
    )
    await store.close()


async def test_upload_intent_says_whether_an_attempt_came_before(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    ds = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a", size_bytes=1)
    row, existed = await store.upload_intent(ds.id, "train", "ftd-aa-train.jsonl", 10)
    assert (row.file_id, existed) == (None, False)
    row, existed = await store.upload_intent(ds.id, "train", "ftd-aa-train.jsonl", 10)
    assert (row.file_id, existed) == (None, True)
    await store.record_upload(ds.id, "train", "file-1")
    assert (await store.uploads(ds.id))["train"].file_id == "file-1"
    await store.close()


async def test_job_and_submitted_state_commit_together(tmp_path: Path) -> None:
    clock = Clock()
    store = await Store.open(tmp_path / "ftd.db", clock=clock)
    ds = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a", size_bytes=1)
    assert not await store.add_job(
        ds.id, expected="creating_job", job_id="ftjob-1", status="queued", model="m", metadata=None
    )
    assert await store.jobs() == []  # the dataset was not creating a job: nothing recorded
    await store.transition(ds.id, "detected", "creating_job")
    assert await store.add_job(
        ds.id,
        expected="creating_job",
        job_id="ftjob-1",
        status="validating_files",
        model="m",
        metadata={"ftd_tag": ds.tag},
    )
    row = await store.dataset(ds.id)
    assert row is not None
    assert row.state == "submitted"
    assert [j.job_id for j in await store.active_jobs()] == ["ftjob-1"]
    clock.now = 1_050.0
    update = JobUpdate(
        job_id="ftjob-1",
        status="succeeded",
        fine_tuned_model="ft:m:x",
        trained_tokens=None,
        estimated_finish=None,
        error_code=None,
        error_message=None,
        error_param=None,
        result_files=None,
        cost_usd=None,
    )
    assert await store.record_cycle(Cycle(updates=[update])) == ["ftjob-1"]
    assert await store.record_cycle(Cycle(updates=[update])) == []  # no change, no new state
    job = await store.job("ftjob-1")
    assert job is not None
    assert (job.status, job.fine_tuned_model, job.finished_at) == ("succeeded", "ft:m:x", 1_050.0)
    assert job.metadata == {"ftd_tag": ds.tag}
    assert await store.active_jobs() == []
    assert [h[1] for h in await store.history("job", job.id)] == ["validating_files", "succeeded"]
    await store.close()


async def test_postpone_keeps_the_state_and_counts_attempts(tmp_path: Path) -> None:
    clock = Clock()
    store = await Store.open(tmp_path / "ftd.db", clock=clock)
    ds = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a", size_bytes=1)
    assert await store.postpone(ds.id, 1_100.0, "429 capped") == 1
    assert await store.postpone(ds.id, 1_200.0, "429 capped") == 2
    row = await store.dataset(ds.id)
    assert row is not None
    assert (row.state, row.attempts, row.next_attempt_at, row.error) == (
        "detected",
        2,
        1_200.0,
        "429 capped",
    )
    assert await store.next_attempt(["detected"]) == 1_200.0
    await store.close()


async def test_version_1_database_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    from ftd.store.schema import MIGRATIONS

    path = tmp_path / "ftd.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(MIGRATIONS[0] + "\nPRAGMA user_version=1;")
        raw.execute(
            "INSERT INTO datasets (sha256, name, path, size_bytes, state, created_at, updated_at) "
            "VALUES ('aa', 'a.jsonl', '/in/a', 1, 'detected', 0, 0)"
        )
    store = await Store.open(path)
    row = await store.dataset(1)
    assert row is not None
    assert len(row.tag) == 16
    assert await store.schema_version() == SCHEMA_VERSION
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
    assert await store.next_attempt(["waiting"]) == 1_060.0
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


async def _meta_rows(store: Store, prefix: str) -> set[str]:
    rows = await store.read("SELECT key FROM meta WHERE key LIKE ?", (f"{prefix}%",))
    return {str(r["key"]) for r in rows}


def _counting_commits(store: Store) -> list[str]:
    """The COMMITs the store's writer connection is sent, from here on."""
    commits: list[str] = []
    db = store._db
    execute = db.execute

    def counted(sql: str, parameters: Any = None) -> Any:
        if sql == "COMMIT":
            commits.append(sql)
        return execute(sql, parameters)

    db.execute = counted  # type: ignore[method-assign]
    return commits


def _put(key: str, *, fail: bool = False) -> Callable[[Tx], Awaitable[None]]:
    async def write(tx: Tx) -> None:
        await tx.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,))
        if fail:
            raise ValueError(f"refused {key}")

    return write


async def test_grouped_writes_arriving_together_share_a_commit(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        commits = _counting_commits(store)
        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(store.grouped, _put(f"g{i:02d}"))
        assert await _meta_rows(store, "g") == {f"g{i:02d}" for i in range(50)}
        # The first commits alone; the 49 that queued meanwhile share the next.
        assert len(commits) <= 3
    finally:
        await store.close()


async def test_a_failing_grouped_write_is_undone_alone(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        errors: dict[str, str] = {}

        async def one(key: str, fail: bool) -> None:
            try:
                await store.grouped(_put(key, fail=fail))
            except ValueError as exc:
                errors[key] = str(exc)

        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(one, f"f{i}", i == 3)
        assert errors == {"f3": "refused f3"}
        assert await _meta_rows(store, "f") == {"f0", "f1", "f2", "f4", "f5"}
    finally:
        await store.close()


async def test_a_grouped_write_cancelled_while_waiting_is_not_made(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        entered, release = anyio.Event(), anyio.Event()

        async def slow(tx: Tx) -> None:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('c-first', 'v')")
            entered.set()
            await release.wait()

        async with anyio.create_task_group() as tg:
            tg.start_soon(store.grouped, slow)
            await entered.wait()
            with anyio.move_on_after(0.05):
                await store.grouped(_put("c-cancelled"))
            release.set()
        await store.grouped(_put("c-after"))
        assert await _meta_rows(store, "c-") == {"c-first", "c-after"}
    finally:
        await store.close()


async def test_the_others_of_a_group_are_committed_when_its_committer_is_cancelled(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        entered, release, stuck = anyio.Event(), anyio.Event(), anyio.Event()

        async def held(tx: Tx) -> None:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('l-held', 'v')")
            entered.set()
            await release.wait()

        async def never_done(tx: Tx) -> None:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('l-cancelled', 'v')")
            stuck.set()
            await anyio.sleep_forever()

        scope = anyio.CancelScope()

        async def cancelled_committer() -> None:
            with scope:
                await store.grouped(never_done)

        async with anyio.create_task_group() as tg:
            tg.start_soon(store.grouped, held)
            await entered.wait()
            # Both queue behind the held group; the first of them commits the next, and
            # is cancelled inside it, with the other's write in its group.
            tg.start_soon(cancelled_committer)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(store.grouped, _put("l-other"))
            await anyio.wait_all_tasks_blocked()
            release.set()
            await stuck.wait()
            scope.cancel()
        assert await _meta_rows(store, "l-") == {"l-held", "l-other"}
    finally:
        await store.close()


async def test_a_write_whose_caller_left_is_not_carried_into_a_later_group(
    tmp_path: Path,
) -> None:
    """Both callers of a group are cancelled while it commits: the group is rolled
    back, and neither write is left behind for some later group to make."""
    store = await Store.open(tmp_path / "ftd.db")
    try:
        entered, release, stuck = anyio.Event(), anyio.Event(), anyio.Event()

        async def held(tx: Tx) -> None:
            entered.set()
            await release.wait()

        async def never_done(tx: Tx) -> None:
            stuck.set()
            await anyio.sleep_forever()

        committer, other = anyio.CancelScope(), anyio.CancelScope()

        async def within(scope: anyio.CancelScope, work: Callable[[Tx], Awaitable[None]]) -> None:
            with scope:
                await store.grouped(work)

        async with anyio.create_task_group() as tg:
            tg.start_soon(store.grouped, held)
            await entered.wait()
            tg.start_soon(within, committer, never_done)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(within, other, _put("o-left"))
            await anyio.wait_all_tasks_blocked()
            release.set()
            await stuck.wait()
            other.cancel()
            await anyio.wait_all_tasks_blocked()
            committer.cancel()
        await store.grouped(_put("o-later"))
        assert await _meta_rows(store, "o-") == {"o-later"}
    finally:
        await store.close()
