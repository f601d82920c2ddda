"""Recordings: a model's answers to test items, kept under a name after the model is gone.

A recording's items are asked at most once each: an item's row is committed
in the state ``asking`` before its request leaves, and its answer replaces it.
A daemon stopped between the two cannot know whether the provider answered,
so the item is marked ``lost`` at the next start rather than asked again; a
recording is thus exactly-once for every item it holds an answer for, and
says plainly which ones it lacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ftd.store.rows import _Row

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ftd.store import Store

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
ORIGIN_REQUEST = "request"
ORIGIN_RETIREMENT = "retirement"
ASKING = "asking"
ANSWERED = "answered"
ITEM_FAILED = "failed"
LOST = "lost"
LOST_REASON = (
    "the daemon stopped while this item was asked; it is not asked again, "
    "so that no item is ever asked twice"
)


@dataclass(frozen=True, slots=True)
class RecordingRow(_Row):
    id: int
    name: str
    model: str
    provider: str
    dataset_id: int | None
    job_id: str | None
    test_file: str
    params: dict[str, Any]
    origin: str
    shutdown_date: str | None
    status: str
    total_items: int | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float

    _json: ClassVar[tuple[str, ...]] = ("params",)

    def brief(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "model": self.model,
            "provider": self.provider,
            "dataset_id": self.dataset_id,
            "job_id": self.job_id,
            "origin": self.origin,
            "shutdown_date": self.shutdown_date,
            "status": self.status,
            "total_items": self.total_items,
            "requests": self.requests,
            "cost_usd": round(self.cost_usd, 6),
            "error": self.error,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """One recorded item as a reader needs it."""

    item: int
    line: int
    prompt_sha256: str
    prompt: list[dict[str, Any]]
    reference: str
    state: str
    response: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float | None
    attempts: int
    error: str | None
    answered_at: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "line": self.line,
            "prompt_sha256": self.prompt_sha256,
            "prompt": self.prompt,
            "reference": self.reference,
            "state": self.state,
            "response": self.response,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_ms": self.latency_ms,
            "attempts": self.attempts,
            "error": self.error,
            "answered_at": self.answered_at,
        }


async def create(
    store: Store,
    *,
    name: str,
    model: str,
    provider: str,
    test_file: str,
    params: Mapping[str, Any],
    origin: str,
    dataset_id: int | None = None,
    job_id: str | None = None,
    shutdown_date: str | None = None,
) -> int | None:
    """A new queued recording's id; None when the name is taken."""
    async with store.transaction() as tx:
        cursor = await tx.execute(
            "INSERT INTO recordings (name, model, provider, dataset_id, job_id, test_file, "
            "params, origin, shutdown_date, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (
                name,
                model,
                provider,
                dataset_id,
                job_id,
                test_file,
                json.dumps(dict(params), sort_keys=True),
                origin,
                shutdown_date,
                QUEUED,
                tx.now,
                tx.now,
            ),
        )
        if cursor.rowcount == 0:
            return None
        new_id = cursor.lastrowid
        assert new_id is not None
        tx.note(
            "recording_queued",
            recording_id=new_id,
            name=name,
            model=model,
            origin=origin,
            shutdown_date=shutdown_date,
        )
    return new_id


async def get(store: Store, recording_id: int) -> RecordingRow | None:
    rows = await _select(store, "WHERE id = ?", (recording_id,))
    return rows[0] if rows else None


async def named(store: Store, name: str) -> RecordingRow | None:
    rows = await _select(store, "WHERE name = ?", (name,))
    return rows[0] if rows else None


async def every(store: Store) -> list[RecordingRow]:
    return await _select(store, "ORDER BY id", ())


async def of_model(store: Store, model: str) -> list[RecordingRow]:
    return await _select(store, "WHERE model = ? ORDER BY id", (model,))


async def of_dataset(store: Store, dataset_id: int) -> list[RecordingRow]:
    return await _select(store, "WHERE dataset_id = ? ORDER BY id", (dataset_id,))


async def to_run(store: Store) -> list[RecordingRow]:
    """Queued and interrupted recordings, oldest first."""
    return await _select(store, "WHERE status IN (?, ?) ORDER BY id", (QUEUED, RUNNING))


async def start(store: Store, recording_id: int, total_items: int) -> int:
    """Mark it running; items left ``asking`` by an earlier life become ``lost``: how many."""
    async with store.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE recorded_answers SET state = ?, error = ? WHERE recording_id = ? AND state = ?",
            (LOST, LOST_REASON, recording_id, ASKING),
        )
        lost = cursor.rowcount
        await tx.execute(
            "UPDATE recordings SET status = ?, total_items = ?, "
            "started_at = coalesce(started_at, ?), updated_at = ? WHERE id = ?",
            (RUNNING, total_items, tx.now, tx.now, recording_id),
        )
        tx.note("recording_started", recording_id=recording_id, total_items=total_items, lost=lost)
    return lost


async def taken_items(store: Store, recording_id: int) -> set[int]:
    """Items that have a row: asked already, whatever came of it."""
    rows = await store.read(
        "SELECT item FROM recorded_answers WHERE recording_id = ?", (recording_id,)
    )
    return {int(r["item"]) for r in rows}


async def intend(
    store: Store,
    recording_id: int,
    *,
    item: int,
    line: int,
    prompt_sha256: str,
    prompt: Sequence[Mapping[str, Any]],
    reference: str,
) -> None:
    """The item's row, committed before its request is sent."""
    async with store.transaction() as tx:
        await tx.execute(
            "INSERT INTO recorded_answers (recording_id, item, line, prompt_sha256, prompt, "
            "reference, state, asked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                recording_id,
                item,
                line,
                prompt_sha256,
                json.dumps(list(prompt)),
                reference,
                ASKING,
                tx.now,
            ),
        )


async def answered(
    store: Store,
    recording_id: int,
    item: int,
    *,
    response: str | None,
    prompt_tokens: int,
    completion_tokens: int,
    latency_ms: float | None,
    attempts: int,
    cost_usd: float,
    error: str | None = None,
    cache_row: tuple[str, str, str, int, int] | None = None,
) -> None:
    """The item's answer (or why it has none) and what it cost, in one commit; a fresh
    answer also goes to the completion cache, so the evaluation asking the same
    request later takes it from there instead of paying for it again."""
    state = ANSWERED if error is None else ITEM_FAILED
    async with store.transaction() as tx:
        if cache_row is not None:
            await tx.execute(
                "INSERT OR IGNORE INTO completion_cache (key, model, response, prompt_tokens, "
                "completion_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (*cache_row, tx.now),
            )
        await tx.execute(
            "UPDATE recorded_answers SET state = ?, response = ?, prompt_tokens = ?, "
            "completion_tokens = ?, latency_ms = ?, attempts = ?, error = ?, answered_at = ? "
            "WHERE recording_id = ? AND item = ?",
            (
                state,
                response,
                prompt_tokens if error is None else None,
                completion_tokens if error is None else None,
                latency_ms,
                attempts,
                error,
                tx.now,
                recording_id,
                item,
            ),
        )
        await tx.execute(
            "UPDATE recordings SET requests = requests + ?, prompt_tokens = prompt_tokens + ?, "
            "completion_tokens = completion_tokens + ?, cost_usd = cost_usd + ?, "
            "updated_at = ? WHERE id = ?",
            (attempts, prompt_tokens, completion_tokens, cost_usd, tx.now, recording_id),
        )


async def finish(store: Store, recording_id: int, status: str, error: str | None) -> None:
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE recordings SET status = ?, error = ?, finished_at = ?, updated_at = ? "
            "WHERE id = ?",
            (status, error, tx.now, tx.now, recording_id),
        )
        tx.note("recording_finished", recording_id=recording_id, status=status, error=error)


async def answers(store: Store, recording_id: int) -> list[Answer]:
    rows = await store.read(
        "SELECT item, line, prompt_sha256, prompt, reference, state, response, prompt_tokens, "
        "completion_tokens, latency_ms, attempts, error, answered_at FROM recorded_answers "
        "WHERE recording_id = ? ORDER BY item",
        (recording_id,),
    )
    return [Answer(**{**r, "prompt": json.loads(r["prompt"])}) for r in rows]


async def tally(store: Store, recording_id: int) -> dict[str, int]:
    """Items by state."""
    rows = await store.read(
        "SELECT state, count(*) AS n FROM recorded_answers WHERE recording_id = ? GROUP BY state",
        (recording_id,),
    )
    return {str(r["state"]): int(r["n"]) for r in rows}


async def _select(store: Store, where: str, params: Sequence[Any]) -> list[RecordingRow]:
    rows = await store.read(f"SELECT * FROM recordings {where}", params)  # noqa: S608
    for row in rows:
        row["params"] = json.loads(row["params"])
    return [RecordingRow(**row) for row in rows]
