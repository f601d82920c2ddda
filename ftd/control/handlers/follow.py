"""Streams: a job's events as they are stored (``events --follow``) and a live view (``watch``).

Both read the database the tracker writes, at a short interval; nothing here
asks the provider, so any number of people may follow without costing a
request. A follow ends once the job has finished and its last events are out.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import anyio

from ftd.control.handlers import args as arg
from ftd.control.handlers.lists import LATEST_METRICS, TOTAL_STEPS, marks, progress
from ftd.control.handlers.show import events as event_tail
from ftd.store import states
from ftd.store.tracking import EVENT_COLUMNS, EVENT_ORDER

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ftd.control.server import Call
    from ftd.daemon.parts import Parts

POLL_SECONDS = 0.5
# After a job finishes, its last events may still be on their way from the provider.
AFTER_END_SECONDS = 3.0
# How long events are held back while the tracker reads older ones below the newest.
GAP_PATIENCE_SECONDS = 120.0


async def _job_now(parts: Parts, job_id: str, status: str) -> tuple[str, bool]:
    """The job's status, and whether a gap of unread older events lies below its newest."""
    rows = await parts.store.read(
        "SELECT status, events_cursor FROM jobs WHERE job_id = ?", (job_id,)
    )
    if not rows:
        return status, False
    return rows[0]["status"], bool(rows[0]["events_cursor"])


async def follow_events(parts: Parts, call: Call) -> AsyncIterator[dict[str, Any]]:
    first = await event_tail(parts, call)
    job_id = first["job_id"]
    status, gap = await _job_now(parts, job_id, first["status"])
    # The tracker reads newest first; while older events are still coming in,
    # the tail would miss some of them: let it catch up first, boundedly.
    waited = time.monotonic()
    while gap and time.monotonic() - waited < GAP_PATIENCE_SECONDS:
        await anyio.sleep(POLL_SECONDS)
        status, gap = await _job_now(parts, job_id, status)
        if not gap:
            first = await event_tail(parts, call)
    yield first
    # Where the follow stands in the provider's sequence: only events after it
    # are new. Nothing is sent while a gap is being read, so what comes is in
    # order; one that still arrives late, older than what was shown, is history
    # for `ftd events`, never printed out of turn.
    seen: tuple[int, int, str] = (-1, -1, "")
    if first["events"]:
        last = first["events"][-1]
        seen = (last["created_at"], last["step_order"], last["event_id"])
    ended_at: float | None = None
    gap_since: float | None = None
    while True:
        await anyio.sleep(POLL_SECONDS)
        status, gap = await _job_now(parts, job_id, status)
        if gap:
            gap_since = gap_since or time.monotonic()
            if time.monotonic() - gap_since < GAP_PATIENCE_SECONDS:
                continue
        else:
            gap_since = None
        rows = await parts.store.read(
            f"SELECT {EVENT_COLUMNS} FROM job_events WHERE job_id = ? "  # noqa: S608
            f"AND (created_at, step_order, event_id) > (?, ?, ?) ORDER BY {EVENT_ORDER}",
            (job_id, *seen),
        )
        if rows:
            seen = (rows[-1]["created_at"], rows[-1]["step_order"], rows[-1]["event_id"])
            for row in rows:
                row["data"] = json.loads(row["data"]) if row["data"] else None
            yield {"job_id": job_id, "status": status, "events": rows}
        if status in states.JOB_FINAL:
            ended_at = ended_at or time.monotonic()
            if time.monotonic() - ended_at >= AFTER_END_SECONDS:
                yield {"job_id": job_id, "status": status, "events": [], "finished": True}
                return


async def snapshot(parts: Parts) -> dict[str, Any]:
    """Unfinished jobs with their progress, datasets on their way, running evaluations."""
    final = sorted(states.JOB_FINAL)
    jobs = await parts.store.read(
        "SELECT j.job_id, d.name AS dataset, j.status, j.model, j.created_at, "  # noqa: S608
        f"j.estimated_finish, {LATEST_METRICS} AS latest, {TOTAL_STEPS} AS total_steps "
        "FROM jobs j LEFT JOIN datasets d ON d.id = j.dataset_id "
        f"WHERE j.status NOT IN {marks(final)} ORDER BY j.id",
        final,
    )
    for job in jobs:
        job["progress"] = progress(job.pop("latest"), job.pop("total_steps"))
    moving = sorted(states.DATASET_FINAL | {states.AWAITING_APPROVAL})
    datasets = await parts.store.read(
        "SELECT id, name, state, updated_at, next_attempt_at FROM datasets "  # noqa: S608
        f"WHERE state NOT IN {marks(moving)} ORDER BY id",
        moving,
    )
    view: dict[str, Any] = {"at": time.time(), "jobs": jobs, "datasets": datasets}
    if parts.evaluations is not None:
        view["evaluations"] = await parts.evaluations.running()
    return view


async def watch(parts: Parts, call: Call) -> AsyncIterator[dict[str, Any]]:
    interval = arg.number(call.args, "interval", 1.0, low=0.1, high=3600)
    assert interval is not None
    while True:
        yield await snapshot(parts)
        await anyio.sleep(interval)
