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

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ftd.control.server import Call
    from ftd.daemon.parts import Parts

POLL_SECONDS = 0.5
# After a job finishes, its last events may still be on their way from the provider.
AFTER_END_SECONDS = 3.0


async def follow_events(parts: Parts, call: Call) -> AsyncIterator[dict[str, Any]]:
    first = await event_tail(parts, call)
    job_id = first["job_id"]
    yield first
    seen = max((e["seq"] for e in first["events"]), default=0)
    if not first["events"]:
        rows = await parts.store.read(
            "SELECT coalesce(max(rowid), 0) AS seq FROM job_events WHERE job_id = ?", (job_id,)
        )
        seen = rows[0]["seq"]
    ended_at: float | None = None
    status = first["status"]
    while True:
        await anyio.sleep(POLL_SECONDS)
        rows = await parts.store.read(
            "SELECT rowid AS seq, event_id, created_at, level, type, message, data "
            "FROM job_events WHERE job_id = ? AND rowid > ? ORDER BY created_at, rowid",
            (job_id, seen),
        )
        job = await parts.store.read("SELECT status FROM jobs WHERE job_id = ?", (job_id,))
        status = job[0]["status"] if job else status
        if rows:
            seen = max(r["seq"] for r in rows)
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
