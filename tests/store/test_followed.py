"""The tracker's rows kept in memory are the store's, whoever wrote them, read a few at a time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from ftd.store import Store
from ftd.store.followed import FollowedJobs
from ftd.store.tracking import Cycle, JobUpdate

pytestmark = pytest.mark.anyio


def _update(job_id: str, status: str) -> JobUpdate:
    return JobUpdate(job_id, status, None, None, None, None, None, None, None, None)


async def _store(path: Path, jobs: int) -> Store:
    store = await Store.open(path)
    for number in range(jobs):
        assert await store.adopt_job(f"ftjob-{number}", "queued", "m", None)
    return store


async def test_the_kept_rows_are_the_unfinished_rows_after_every_kind_of_write(
    tmp_path: Path,
) -> None:
    store = await _store(tmp_path / "ftd.db", 3)
    followed = FollowedJobs(store)
    assert await followed.rows() == await store.active_jobs()
    await store.record_cycle(
        Cycle(
            updates=[_update("ftjob-0", "running"), _update("ftjob-1", "succeeded")],
            cursors={"ftjob-2": "ftevent-5"},
            detailed=["ftjob-0"],
        )
    )
    assert await store.adopt_job("ftjob-3", "running", "m", None)
    # Another process's writes (the trigger renews the revision whoever writes).
    with sqlite3.connect(tmp_path / "ftd.db") as other:
        other.execute("UPDATE jobs SET status = 'paused' WHERE job_id = 'ftjob-2'")
        other.execute(
            "INSERT INTO jobs (job_id, status, model, adopted, created_at, updated_at) "
            "VALUES ('ftjob-4', 'queued', 'm', 1, 1.0, 1.0)"
        )
    kept = await followed.rows()
    assert kept == await store.active_jobs()
    assert [(r.job_id, r.status) for r in kept] == [
        ("ftjob-0", "running"),
        ("ftjob-2", "paused"),
        ("ftjob-3", "running"),
        ("ftjob-4", "queued"),
    ]
    await store.close()


async def test_only_the_rows_written_since_the_last_read_are_read(tmp_path: Path) -> None:
    store = await _store(tmp_path / "ftd.db", 50)
    first = await store.jobs_revised_since(-1)
    assert len(first.rows) == first.unfinished == 50
    assert len({r.revision for r in first.rows}) == 50  # each write its own revision
    await store.record_cycle(Cycle(updates=[_update("ftjob-7", "running")]))
    then = await store.jobs_revised_since(first.latest)
    assert [(r.job_id, r.status) for r in then.rows] == [("ftjob-7", "running")]
    assert then.latest > first.latest
    assert (await store.jobs_revised_since(then.latest)).rows == []
    await store.close()


async def test_a_row_gone_without_a_revision_has_every_row_read_again(tmp_path: Path) -> None:
    store = await _store(tmp_path / "ftd.db", 3)
    followed = FollowedJobs(store)
    await followed.rows()
    with sqlite3.connect(tmp_path / "ftd.db") as other:
        other.execute("DELETE FROM transitions")
        other.execute("DELETE FROM jobs WHERE job_id = 'ftjob-1'")
    assert [r.job_id for r in await followed.rows()] == ["ftjob-0", "ftjob-2"]
    await store.close()


async def test_a_write_that_rolls_back_is_never_taken_as_read(tmp_path: Path) -> None:
    store = await _store(tmp_path / "ftd.db", 2)
    followed = FollowedJobs(store)
    await followed.rows()
    written, read = anyio.Event(), anyio.Event()
    seen: list[str] = []

    async def reader() -> None:
        await written.wait()
        seen.extend(r.status for r in await followed.rows())
        read.set()

    class Abandoned(Exception):
        pass

    async def abandoned_write() -> None:
        async with store.transaction() as tx:
            await tx.execute("UPDATE jobs SET status = 'running' WHERE job_id = 'ftjob-0'")
            written.set()
            with anyio.move_on_after(0.2):
                await read.wait()  # the reader waits for the transaction to end
            assert not read.is_set()
            raise Abandoned

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        with pytest.raises(Abandoned):
            await abandoned_write()
    assert seen == ["queued", "queued"]
    # A later write takes a revision the reader has not passed over.
    await store.record_cycle(Cycle(updates=[_update("ftjob-1", "running")]))
    assert [r.status for r in await followed.rows()] == ["queued", "running"]
    await store.close()
