"""What one tracker cycle learned, written in a single transaction.

A cycle over hundreds of jobs makes one commit, not one per row: statuses,
new events, metrics, checkpoints and result figures all land together, and a
crash mid-cycle loses only that cycle, which the next one repeats. Events
and checkpoints are keyed by the provider's ids, so a repeat stores nothing
twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ftd.store import states
from ftd.store.changes import Change

if TYPE_CHECKING:
    from ftd.store.db import Tx

# The provider's sequence of a job's events (see migration 6), for ORDER BY.
EVENT_ORDER = "created_at, step_order, event_id"
EVENT_ORDER_DESC = "created_at DESC, step_order DESC, event_id DESC"
STEP_SPAN = 1000  # places for the messages after one step's metrics event
EVENT_COLUMNS = "rowid AS seq, event_id, created_at, level, type, message, data, step_order"

METRIC_COLUMNS = (
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_accuracy",
    "full_valid_loss",
    "full_valid_accuracy",
)


@dataclass(frozen=True, slots=True)
class JobUpdate:
    job_id: str
    status: str
    fine_tuned_model: str | None
    trained_tokens: int | None
    estimated_finish: float | None
    error_code: str | None
    error_message: str | None
    error_param: str | None
    result_files: list[str] | None
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: str
    job_id: str
    created_at: int
    level: str
    type: str | None
    message: str
    data: dict[str, Any] | None
    # The stored event just before this one in the provider's sequence, when the read
    # that brought it met one ("" when it is the job's first event; None: not known).
    follows: str | None = None


@dataclass(frozen=True, slots=True)
class MetricRow:
    job_id: str
    step: int
    figures: dict[str, float | None]
    source: str  # "event" or "result_file"


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    checkpoint_id: str
    job_id: str
    step: int
    model: str
    metrics: dict[str, Any] | None
    created_at: int


@dataclass(slots=True)
class Cycle:
    """Everything one cycle will write."""

    updates: list[JobUpdate] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    checkpoints: list[CheckpointRow] = field(default_factory=list)
    detailed: list[str] = field(default_factory=list)  # jobs whose events were read
    cursors: dict[str, str | None] = field(default_factory=dict)  # job -> unread-gap cursor
    results_parsed: list[str] = field(default_factory=list)
    models_ready: list[str] = field(default_factory=list)


def _event_step(event: EventRow) -> int | None:
    data = event.data or {}
    step = data.get("step")
    if event.type == "metrics" and isinstance(step, int) and not isinstance(step, bool):
        return step
    return None


async def _stored_before(tx: Tx, event: EventRow) -> int:
    """The place of the stored event this one follows in the provider's sequence.

    The read names that event when it met it (the page's first stored event
    sits right before the oldest new one); otherwise the latest stored at or
    before its second stands in for it, which a page read from an unread gap
    can get wrong: there, events of the same second read earlier come after.
    """
    if event.follows == "":
        return 0
    if event.follows is not None:
        row = await tx.one(
            "SELECT step_order AS o FROM job_events WHERE event_id = ? AND job_id = ?",
            (event.follows, event.job_id),
        )
    else:
        row = await tx.one(
            "SELECT max(step_order) AS o FROM job_events WHERE job_id = ? AND created_at <= ?",
            (event.job_id, event.created_at),
        )
    stored = row["o"] if row is not None else None
    return stored if isinstance(stored, int) else 0


async def _step_orders(tx: Tx, events: list[EventRow]) -> list[int]:
    """Each event's place within its second: its step times ``STEP_SPAN``, then messages.

    A message (a checkpoint, the end of training) belongs after the event
    just before it in the provider's sequence. The cycle's events come oldest
    first in runs (a run restarts where time goes back); a message at the
    start of a run follows the latest event stored at or before its second.
    """
    orders: list[int] = []
    last: dict[str, tuple[int, int]] = {}  # job -> (created_at, order) in this run
    for event in events:
        step = _event_step(event)
        seen = last.get(event.job_id)
        if seen is not None and event.created_at < seen[0]:
            seen = None  # an older run (a gap read after the newest page)
        if step is not None:
            order = STEP_SPAN * step
        else:
            if seen is None:
                previous = await _stored_before(tx, event)
            else:
                previous = seen[1]
            # Past the last place of a step, messages share it and go by id.
            order = min(previous + 1, STEP_SPAN * (previous // STEP_SPAN) + STEP_SPAN - 1)
        orders.append(order)
        last[event.job_id] = (event.created_at, order)
    return orders


_UPDATE_JOB = (
    "UPDATE jobs SET status = ?, fine_tuned_model = ?, trained_tokens = ?, "
    "estimated_finish = ?, error_code = ?, error_message = ?, error_param = ?, "
    "result_files = ?, cost_usd = ?, updated_at = ?, "
    "finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE id = ?"
)


async def _jobs_now(tx: Tx, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """job_id -> id, dataset_id, status, finished_at, in slices under SQLite's variable limit."""
    found: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(job_ids))
    for first in range(0, len(unique), 500):
        part = unique[first : first + 500]
        marks = ", ".join("?" * len(part))
        async with tx.db.execute(
            "SELECT id, job_id, dataset_id, status, finished_at FROM jobs "  # noqa: S608
            f"WHERE job_id IN ({marks})",
            part,
        ) as cursor:
            found.update((r["job_id"], dict(r)) for r in await cursor.fetchall())
    return found


async def _apply_updates(tx: Tx, updates: list[JobUpdate]) -> list[str]:
    """Jobs' statuses and figures in a few statements for the lot; the jobs that ended.

    A mass change (10,000 jobs starting at once) made three round trips to the
    database's thread per job; now the rows are read in slices, written in one
    statement and their history in another, in the updates' order.
    """
    finished: list[str] = []
    now = await _jobs_now(tx, [u.job_id for u in updates])
    written: list[tuple[Any, ...]] = []
    changes: list[Change] = []
    for update in updates:
        row = now.get(update.job_id)
        if row is None:
            continue
        before = row["status"]
        # A job first recorded already ended (adopted so) ends here, as a followed one would.
        unsettled = before in states.JOB_FINAL and row["finished_at"] is None
        final_now = update.status in states.JOB_FINAL and (
            before not in states.JOB_FINAL or unsettled
        )
        written.append(
            (
                update.status,
                update.fine_tuned_model,
                update.trained_tokens,
                update.estimated_finish,
                update.error_code,
                update.error_message,
                update.error_param,
                json.dumps(update.result_files) if update.result_files is not None else None,
                update.cost_usd,
                tx.now,
                final_now,
                tx.now,
                row["id"],
            )
        )
        if final_now:
            finished.append(update.job_id)
            row["finished_at"] = tx.now
        if update.status != before:
            detail = {"error_code": update.error_code} if update.error_code else None
            context = {"job_id": update.job_id, "dataset_id": row["dataset_id"]}
            changes.append(Change(row["id"], before, update.status, detail, context))
        row["status"] = update.status  # a second update of the job in this cycle starts here
    await tx.executemany(_UPDATE_JOB, written)
    await tx.log_changes("job", changes)
    return finished


async def apply_cycle(tx: Tx, cycle: Cycle) -> list[str]:
    """Write a cycle; returns the jobs that reached a final status in it."""
    finished = await _apply_updates(tx, cycle.updates) if cycle.updates else []
    orders = await _step_orders(tx, cycle.events)
    await tx.db.executemany(
        "INSERT OR IGNORE INTO job_events (event_id, job_id, created_at, level, type, message, "
        "data, step_order) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.event_id,
                e.job_id,
                e.created_at,
                e.level,
                e.type,
                e.message,
                orjson.dumps(e.data, option=orjson.OPT_NON_STR_KEYS).decode() if e.data else None,
                order,
            )
            for e, order in zip(cycle.events, orders, strict=True)
        ],
    )
    # One statement per source for the whole cycle: thousands of figures, one round trip.
    columns = ", ".join(METRIC_COLUMNS)
    rows = {
        source: [
            (m.job_id, m.step, *map(m.figures.get, METRIC_COLUMNS), m.source)
            for m in cycle.metrics
            if m.source == source
        ]
        for source in ("event", "result_file")
    }
    # A figure from an event never replaces one from the result file.
    await tx.db.executemany(
        f"INSERT OR IGNORE INTO job_metrics (job_id, step, {columns}, "  # noqa: S608
        "source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows["event"],
    )
    # The result file is the final word; where it is silent, keep what events said.
    updates = ", ".join(
        f"{name} = coalesce(excluded.{name}, job_metrics.{name})" for name in METRIC_COLUMNS
    )
    await tx.db.executemany(
        f"INSERT INTO job_metrics (job_id, step, {columns}, source) "  # noqa: S608
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, step) DO UPDATE SET "
        f"{updates}, source = excluded.source",
        rows["result_file"],
    )
    await tx.db.executemany(
        "INSERT OR IGNORE INTO job_checkpoints (checkpoint_id, job_id, step, model, metrics, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                c.checkpoint_id,
                c.job_id,
                c.step,
                c.model,
                json.dumps(c.metrics) if c.metrics else None,
                c.created_at,
            )
            for c in cycle.checkpoints
        ],
    )
    await tx.db.executemany(
        "UPDATE jobs SET details_at = ? WHERE job_id = ?", [(tx.now, j) for j in cycle.detailed]
    )
    await tx.db.executemany(
        "UPDATE jobs SET events_cursor = ? WHERE job_id = ?",
        [(cursor, job_id) for job_id, cursor in cycle.cursors.items()],
    )
    await tx.db.executemany(
        "UPDATE jobs SET results_parsed_at = ? WHERE job_id = ?",
        [(tx.now, j) for j in cycle.results_parsed],
    )
    for job_id in cycle.models_ready:
        await tx.execute("UPDATE jobs SET model_ready_at = ? WHERE job_id = ?", (tx.now, job_id))
        tx.note("model_ready", job_id=job_id)
    if cycle.events or cycle.checkpoints:
        tx.note(
            "job_details_stored",
            events=len(cycle.events),
            metrics=len(cycle.metrics),
            checkpoints=len(cycle.checkpoints),
        )
    return finished
