"""Rows built many at once are the rows built one by one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ftd.store import Store
from ftd.store.rows import FileRow, JobRow
from ftd.store.tracking import Cycle, JobUpdate

pytestmark = pytest.mark.anyio


def _raw(path: Path, sql: str) -> list[sqlite3.Row]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return list(db.execute(sql).fetchall())


async def test_jobs_read_many_at_once_equal_those_read_one_by_one(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    assert await store.adopt_job("ftjob-a", "running", "m", {"k": "v"})
    assert await store.adopt_job("ftjob-b", "queued", "m", None)
    assert await store.adopt_job("ftjob-c", "running", "m", {"other": "w"}, provider="eu")
    # A JSON list column set on one row only, and columns added by later migrations.
    update = JobUpdate("ftjob-a", "succeeded", "ft:m:a", 12, None, None, None, None, ["f-1"], 0.1)
    await store.record_cycle(Cycle(updates=[update], cursors={"ftjob-c": "ftevent-9"}))
    read = await store.jobs()
    await store.close()
    one_by_one = [JobRow.from_row(r) for r in _raw(tmp_path / "ftd.db", "SELECT * FROM jobs")]
    assert read == one_by_one
    assert [(j.metadata, j.result_files, j.events_cursor) for j in read] == [
        ({"k": "v"}, ["f-1"], None),
        (None, None, None),
        ({"other": "w"}, None, "ftevent-9"),
    ]


async def test_a_query_whose_columns_are_not_the_fields_is_built_by_name() -> None:
    with sqlite3.connect(":memory:") as db:
        db.row_factory = sqlite3.Row
        # Columns in another order than the fields, and one field left to its default.
        rows = db.execute(
            "SELECT '/in/a' AS path, 'train' AS role, NULL AS moving_from, 3 AS dataset_id, "
            "'i-1' AS identity"
        ).fetchall()
    built = FileRow.from_rows(rows)
    assert built == [
        FileRow(dataset_id=3, role="train", path="/in/a", moving_from=None, identity="i-1")
    ]
    assert FileRow.from_rows([]) == []
