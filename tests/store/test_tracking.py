"""Events kept in the provider's sequence, whatever order the tracker's pages brought them in."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ftd.store import Store
from ftd.store.schema import MIGRATIONS
from ftd.store.tracking import Cycle, EventRow, JobUpdate

pytestmark = pytest.mark.anyio
JOB = "ftjob-1"


def metric(step: int, at: int, event_id: str) -> EventRow:
    return EventRow(event_id, JOB, at, "info", "metrics", f"Step {step}/300", {"step": step})


def message(text: str, at: int, event_id: str) -> EventRow:
    return EventRow(event_id, JOB, at, "info", "message", text, None)


async def _store_with_job(path: Path) -> Store:
    store = await Store.open(path)
    ds = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a", size_bytes=1)
    await store.transition(ds.id, "detected", "creating_job")
    assert await store.add_job(
        ds.id, expected="creating_job", job_id=JOB, status="running", model="m", metadata=None
    )
    return store


async def test_events_of_one_second_are_in_step_order_whatever_came_first(tmp_path: Path) -> None:
    store = await _store_with_job(tmp_path / "ftd.db")
    # Ids that sort against the sequence, as a provider's random ids may.
    await store.record_cycle(
        Cycle(
            events=[
                message("Fine-tuning job started", 100, "ftevent-z"),
                metric(260, 100, "ftevent-y"),
                metric(261, 100, "ftevent-x"),
            ]
        )
    )
    # The newest page first, then (a run going back in time) an older page.
    await store.record_cycle(
        Cycle(
            events=[
                metric(290, 101, "ftevent-c"),
                metric(295, 101, "ftevent-b"),
                message("Checkpoint created at step 295", 101, "ftevent-a"),
                message("The job has successfully completed", 101, "ftevent-0"),
                metric(262, 101, "ftevent-w"),
                metric(263, 101, "ftevent-v"),
            ]
        )
    )
    messages = [e["message"] for e in await store.job_events(JOB)]
    assert messages == [
        "Fine-tuning job started",
        "Step 260/300",
        "Step 261/300",
        "Step 262/300",
        "Step 263/300",
        "Step 290/300",
        "Step 295/300",
        "Checkpoint created at step 295",
        "The job has successfully completed",
    ]
    await store.close()


async def test_a_message_read_from_a_gap_goes_before_newer_events_of_its_second(
    tmp_path: Path,
) -> None:
    first = await _store_with_job(tmp_path / "first.db")
    other = await _store_with_job(tmp_path / "other.db")
    try:
        # The newest page ran out of pages before the job's start: a gap is left below it.
        await first.record_cycle(Cycle(events=[metric(1, 100, "s1"), metric(2, 101, "s2")]))
        # The gap, read next, ends at the job's first event, of step 1's second.
        created = EventRow("c", JOB, 100, "info", "message", "Created fine-tuning job", None, "")
        await first.record_cycle(Cycle(events=[created]))
        assert [e["message"] for e in await first.job_events(JOB)] == [
            "Created fine-tuning job",
            "Step 1/300",
            "Step 2/300",
        ]
        # The same, when the gap's read met a stored event of an older run below it.
        await other.record_cycle(Cycle(events=[message("Created fine-tuning job", 100, "a")]))
        await other.record_cycle(Cycle(events=[metric(1, 100, "s1")]))
        validated = EventRow("b", JOB, 100, "info", "message", "Files validated", None, "a")
        await other.record_cycle(Cycle(events=[validated]))
        assert [e["message"] for e in await other.job_events(JOB)] == [
            "Created fine-tuning job",
            "Files validated",
            "Step 1/300",
        ]
    finally:
        await first.close()
        await other.close()


async def test_events_stored_before_the_ordering_key_are_given_one(tmp_path: Path) -> None:
    path = tmp_path / "ftd.db"
    with sqlite3.connect(path) as raw:
        raw.executescript("\n".join(MIGRATIONS[:5]) + "\nPRAGMA user_version=5;")
        raw.execute(
            "INSERT INTO datasets (sha256, name, path, size_bytes, state, created_at, updated_at) "
            "VALUES ('aa', 'a.jsonl', '/in/a', 1, 'submitted', 0, 0)"
        )
        raw.execute(
            "INSERT INTO jobs (dataset_id, job_id, status, model, created_at, updated_at) "
            "VALUES (1, ?, 'succeeded', 'm', 0, 0)",
            (JOB,),
        )
        # As the old tracker stored them: a page oldest first, the newest page first.
        for event_id, at, kind, text, data in [
            ("ftevent-4", 7, "metrics", "Step 4/5", '{"step": 4}'),
            ("ftevent-5", 7, "metrics", "Step 5/5", '{"step": 5}'),
            ("ftevent-6", 7, "message", "The job has successfully completed", None),
            ("ftevent-2", 7, "metrics", "Step 2/5", '{"step": 2}'),
            ("ftevent-3", 7, "metrics", "Step 3/5", '{"step": 3}'),
        ]:
            raw.execute(
                "INSERT INTO job_events (event_id, job_id, created_at, level, type, message, data) "
                "VALUES (?, ?, ?, 'info', ?, ?, ?)",
                (event_id, JOB, at, kind, text, data),
            )
    store = await Store.open(path)
    messages = [e["message"] for e in await store.job_events(JOB)]
    assert messages == [
        "Step 2/5",
        "Step 3/5",
        "Step 4/5",
        "Step 5/5",
        "The job has successfully completed",
    ]
    await store.close()


async def test_asking_which_of_a_huge_page_is_known_fits_sqlites_variable_limit(
    tmp_path: Path,
) -> None:
    store = await _store_with_job(tmp_path / "ftd.db")
    await store.record_cycle(Cycle(events=[message("stored", 1, "ftevent-7")]))
    ids = [f"ftevent-{i}" for i in range(300_000)]  # over any build's default limit
    assert await store.known_events(ids) == {"ftevent-7"}
    await store.close()


async def test_the_ended_jobs_with_events_left_are_the_ended_part_of_every_gap(
    tmp_path: Path,
) -> None:
    """The tracker takes the unfinished jobs' gaps from the rows it has just read and asks
    the store only for the ended ones: the two together must be every gap."""
    store = await Store.open(tmp_path / "ftd.db")
    for job_id, status in [
        ("ftjob-running-gap", "running"),
        ("ftjob-running-read", "running"),
        ("ftjob-ended-unread", "running"),
        ("ftjob-ended-read", "running"),
        ("ftjob-ended-gap", "running"),
    ]:
        assert await store.adopt_job(job_id, status, "m", None)

    def update(job_id: str, status: str) -> JobUpdate:
        return JobUpdate(job_id, status, None, None, None, None, None, None, None, None)

    ended = ["ftjob-ended-unread", "ftjob-ended-read", "ftjob-ended-gap"]
    await store.record_cycle(Cycle(updates=[update(j, "succeeded") for j in ended]))
    await store.record_cycle(
        Cycle(
            detailed=["ftjob-running-read", "ftjob-ended-read", "ftjob-ended-gap"],
            cursors={"ftjob-running-gap": "ftevent-9", "ftjob-ended-gap": ""},
        )
    )
    every_gap = {r.job_id for r in await store.jobs_with_event_gap()}
    assert every_gap == {"ftjob-running-gap", "ftjob-ended-unread", "ftjob-ended-gap"}
    assert {r.job_id for r in await store.ended_jobs_with_event_gap()} == {
        "ftjob-ended-unread",
        "ftjob-ended-gap",
    }
    unfinished = {r.job_id for r in await store.active_jobs() if r.events_cursor is not None}
    assert unfinished | {r.job_id for r in await store.ended_jobs_with_event_gap()} == every_gap
    await store.close()


async def test_an_events_data_is_stored_as_json_whatever_its_keys(tmp_path: Path) -> None:
    store = await _store_with_job(tmp_path / "ftd.db")
    data: dict[Any, Any] = {"step": 3, "train_loss": 0.25, "note": "caf\u00e9", 7: [1, None]}
    await store.record_cycle(
        Cycle(events=[EventRow("ftevent-1", JOB, 100, "info", "metrics", "Step 3/300", data)])
    )
    [stored] = await store.job_events(JOB)
    # Keys that are not strings become strings, as JSON has them.
    assert json.loads(stored["data"]) == {
        "step": 3,
        "train_loss": 0.25,
        "note": "caf\u00e9",
        "7": [1, None],
    }
    await store.close()


def _update(job_id: str, status: str, model: str | None = None) -> JobUpdate:
    return JobUpdate(job_id, status, model, None, None, None, None, None, None, None)


async def test_a_jobs_two_updates_in_one_cycle_are_written_in_their_order(tmp_path: Path) -> None:
    store = await _store_with_job(tmp_path / "ftd.db")
    finished = await store.record_cycle(
        Cycle(
            updates=[
                _update(JOB, "succeeded"),
                _update(JOB, "succeeded", "ft:m:1"),
                _update("ftjob-unknown", "running"),  # no such row: passed over
            ]
        )
    )
    assert finished == [JOB]  # it ended once
    row = await store.job(JOB)
    assert row is not None
    assert (row.status, row.fine_tuned_model) == ("succeeded", "ft:m:1")
    assert row.finished_at is not None
    history = await store.history("job", row.id)
    assert [(old, new) for old, new, _ in history] == [(None, "running"), ("running", "succeeded")]
    await store.close()


async def test_a_mass_change_writes_every_row_and_its_history(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    ids = [f"ftjob-{n}" for n in range(1200)]  # past the slices the rows are read in
    for job_id in ids:
        assert await store.adopt_job(job_id, "queued", "m", None)
    finished = await store.record_cycle(
        Cycle(updates=[_update(j, "running" if n % 3 else "cancelled") for n, j in enumerate(ids)])
    )
    assert finished == ids[::3]
    rows = {r.job_id: r for r in await store.jobs()}
    for n, job_id in enumerate(ids):
        row = rows[job_id]
        assert row.status == ("running" if n % 3 else "cancelled")
        assert (row.finished_at is None) == bool(n % 3)
        history = await store.history("job", row.id)
        assert [(old, new) for old, new, _ in history] == [(None, "queued"), ("queued", row.status)]
    await store.close()
