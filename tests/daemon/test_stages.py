"""A stage meeting the machine's troubles (a locked database, a full disk) and its own bugs."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import anyio
import pytest
import structlog

from ftd.daemon import stages
from ftd.daemon.stages import Stage
from ftd.store import DatasetRow, Store, states

pytestmark = pytest.mark.anyio


def _locked() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY
    return error


@pytest.mark.parametrize(
    "trouble",
    [_locked(), OSError(errno.ENOSPC, "No space left on device")],
    ids=["locked", "full"],
)
async def test_trouble_is_waited_out_without_counting_against_the_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trouble: Exception
) -> None:
    monkeypatch.setattr(stages, "STORE_TROUBLE_SECONDS", 0.05)
    store = await Store.open(tmp_path / "ftd.db")
    try:
        row = await store.add_dataset(sha256="a" * 64, name="a.jsonl", path="/a", size_bytes=1)
        calls: list[int] = []
        done = anyio.Event()

        async def handle(item: DatasetRow) -> None:
            calls.append(item.id)
            if len(calls) < 3:
                raise trouble
            await store.transition(item.id, states.DETECTED, states.MISSING)
            done.set()

        stage = Stage("test", store, [states.DETECTED], handle, limit=1)
        with structlog.testing.capture_logs() as logged:
            async with anyio.create_task_group() as tg:
                await tg.start(stage.run)
                with anyio.fail_after(5):
                    await done.wait()
                tg.cancel_scope.cancel()
        after = await store.dataset(row.id)
    finally:
        await store.close()
    assert calls == [row.id] * 3
    assert after is not None
    assert after.attempts == 0
    assert after.next_attempt_at is None
    blocked = [e for e in logged if e["event"] == "stage_blocked"]
    # Said once at error level while it lasts (the same reason again is for debug).
    assert [(e["log_level"], e["failures"]) for e in blocked] == [("error", 1), ("debug", 2)]
    assert str(trouble) in blocked[0]["error"]
    unblocked = [e for e in logged if e["event"] == "stage_unblocked"]
    assert [(e["dataset_id"], e["failures"]) for e in unblocked] == [(row.id, 2)]
    assert not [e for e in logged if e["event"] == "stage_error"]


async def test_a_bug_is_postponed_and_counted(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        row = await store.add_dataset(sha256="b" * 64, name="b.jsonl", path="/b", size_bytes=1)
        failed = anyio.Event()

        async def handle(item: DatasetRow) -> None:
            failed.set()
            raise sqlite3.OperationalError("no such column: nope")  # a bug, not the machine

        stage = Stage("test", store, [states.DETECTED], handle, limit=1)
        with structlog.testing.capture_logs() as logged:
            async with anyio.create_task_group() as tg:
                await tg.start(stage.run)
                with anyio.fail_after(5):
                    await failed.wait()
                await anyio.sleep(0.2)
                tg.cancel_scope.cancel()
        after = await store.dataset(row.id)
    finally:
        await store.close()
    assert after is not None
    assert after.attempts == 1
    assert after.next_attempt_at is not None
    assert [e["event"] for e in logged if e["event"].startswith("stage_")] == ["stage_error"]
