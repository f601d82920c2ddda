"""Evaluation rows: queueing (at most once per job and model), per-item results, and reads.

The database is the evaluation queue as it is the datasets': a ``queued`` or
``running`` row is work to do, and a restart simply picks it up again. Item
rows are written with the cache entries and usage they brought, in one
commit, so a crash never leaves an item half counted; an item's completions
may be committed before it, each with its usage, so that a crash before the
item is done does not pay for them twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from ftd.store import outbox, states
from ftd.store.rows import _Row

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ftd.store import Store
    from ftd.store.db import Tx

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
STOPPED = "stopped"  # the cost cap was reached: the items done so far are kept
FAILED = "failed"
FINAL = frozenset({SUCCEEDED, STOPPED, FAILED})
KIND_JOB = "job"
KIND_CHECKPOINT = "checkpoint"
KIND_REQUEST = "request"


@dataclass(frozen=True, slots=True)
class EvaluationRow(_Row):
    id: int
    kind: str
    job_id: str | None
    dataset_id: int | None
    parent_id: int | None
    model: str
    base_model: str | None
    test_file: str
    config: dict[str, Any]
    status: str
    total_items: int | None
    requests: int
    cached_requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    verdict: str | None
    promoted: int | None
    summary: dict[str, Any] | None
    promotion: dict[str, Any] | None
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float
    report_path: str | None
    recording_id: int | None = None  # the base side is read from this recording

    _json: ClassVar[tuple[str, ...]] = ("config", "summary", "promotion")

    def brief(self) -> dict[str, Any]:
        """The columns a list or a live view shows (no config, no summary body)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "job_id": self.job_id,
            "dataset_id": self.dataset_id,
            "parent_id": self.parent_id,
            "model": self.model,
            "base_model": self.base_model,
            "test_file": self.test_file,
            "status": self.status,
            "total_items": self.total_items,
            "verdict": self.verdict,
            "promoted": None if self.promoted is None else bool(self.promoted),
            "cost_usd": round(self.cost_usd, 6),
            "error": self.error,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "report_path": self.report_path,
            "recording_id": self.recording_id,
        }


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One side of one finished item, as it is written."""

    item: int
    role: str
    line: int
    prompt_sha256: str
    question: str
    reference: str
    model: str
    response: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    scores: dict[str, Any]
    latency_ms: float | None
    attempts: int
    cached: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class Spend:
    """What an item cost: requests sent and answered from the cache, tokens, dollars."""

    requests: int = 0
    cached_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


async def queue(
    store: Store,
    *,
    kind: str,
    model: str,
    base_model: str | None,
    test_file: str,
    config: Mapping[str, Any],
    job_id: str | None = None,
    dataset_id: int | None = None,
    parent_id: int | None = None,
    recording_id: int | None = None,
) -> int | None:
    """A new queued evaluation's id; None when this job's model has one already."""
    async with store.transaction() as tx:
        cursor = await tx.execute(
            "INSERT INTO evaluations (kind, job_id, dataset_id, parent_id, model, base_model, "
            "test_file, config, status, created_at, updated_at, recording_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (job_id, model) WHERE job_id IS NOT NULL DO NOTHING",
            (
                kind,
                job_id,
                dataset_id,
                parent_id,
                model,
                base_model,
                test_file,
                json.dumps(dict(config)),
                QUEUED,
                tx.now,
                tx.now,
                recording_id,
            ),
        )
        if cursor.rowcount == 0:
            return None
        new_id = cursor.lastrowid
        assert new_id is not None
        tx.note(
            "evaluation_queued",
            evaluation_id=new_id,
            kind=kind,
            model=model,
            base_model=base_model,
            job_id=job_id,
            test_file=test_file,
        )
    return new_id


async def ready_jobs(store: Store) -> list[dict[str, Any]]:
    """Succeeded jobs whose model answers and whose dataset held out a test split,
    without an evaluation yet; oldest first."""
    return await store.read(
        "SELECT j.job_id, j.provider, j.model AS base_model, j.fine_tuned_model AS model, "
        "j.dataset_id, s.path AS test_file, d.settings AS settings FROM jobs j "
        "JOIN splits s ON s.dataset_id = j.dataset_id AND s.side = 'test' AND s.examples > 0 "
        "JOIN datasets d ON d.id = j.dataset_id "
        "WHERE j.status = ? AND j.model_ready_at IS NOT NULL AND j.fine_tuned_model IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.job_id = j.job_id "
        "AND e.model = j.fine_tuned_model) ORDER BY j.id",
        (states.JOB_SUCCEEDED,),
    )


async def checkpoint_models(store: Store, job_id: str) -> list[tuple[int, str]]:
    rows = await store.read(
        "SELECT step, model FROM job_checkpoints WHERE job_id = ? ORDER BY step", (job_id,)
    )
    return [(int(r["step"]), str(r["model"])) for r in rows]


async def to_run(store: Store, limit: int) -> list[EvaluationRow]:
    """Queued and interrupted evaluations, oldest first."""
    return await _select(
        store, "WHERE status IN (?, ?) ORDER BY id LIMIT ?", (QUEUED, RUNNING, limit)
    )


async def get(store: Store, evaluation_id: int) -> EvaluationRow | None:
    rows = await _select(store, "WHERE id = ?", (evaluation_id,))
    return rows[0] if rows else None


async def start(store: Store, evaluation_id: int, total_items: int) -> None:
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE evaluations SET status = ?, total_items = ?, "
            "started_at = coalesce(started_at, ?), updated_at = ? WHERE id = ?",
            (RUNNING, total_items, tx.now, tx.now, evaluation_id),
        )
        tx.note("evaluation_started", evaluation_id=evaluation_id, total_items=total_items)


async def done_items(store: Store, evaluation_id: int) -> set[int]:
    rows = await store.read(
        "SELECT DISTINCT item FROM evaluation_items WHERE evaluation_id = ?", (evaluation_id,)
    )
    return {int(r["item"]) for r in rows}


async def record_answers(
    store: Store,
    evaluation_id: int,
    cache_rows: Iterable[tuple[str, str, str, int, int]],
    spend: Spend,
) -> None:
    """Completions paid for before their item is done, with their spend: kept whatever
    happens to the item, so taking it up again does not pay for them twice."""
    rows = list(cache_rows)

    async def write(tx: Tx) -> None:
        await _cache_and_spend(tx, evaluation_id, rows, spend)

    await store.grouped(write)


async def record_item(
    store: Store,
    evaluation_id: int,
    results: Sequence[ItemResult],
    cache_rows: Iterable[tuple[str, str, str, int, int]],
    spend: Spend,
) -> None:
    """An item's rows, the completions it paid for, and its spend: together or not at all.

    Committed with whatever other items finish meanwhile (``Store.grouped``).
    """
    rows = list(cache_rows)

    async def write(tx: Tx) -> None:
        await _cache_and_spend(tx, evaluation_id, rows, spend)
        await _item_rows(tx, evaluation_id, results)

    await store.grouped(write)


async def record_items(
    store: Store, evaluation_id: int, results: Sequence[ItemResult], spend: Spend
) -> None:
    """Many items' rows and their spend in one commit: all of them, or none.

    For the items of a batch evaluation whose answers were all in the cache
    already (paid for when their batches were committed): a chunk of them
    costs one commit, not one per item, and a crash leaves none of its rows.
    """
    async with store.transaction() as tx:
        await _cache_and_spend(tx, evaluation_id, (), spend)
        await _item_rows(tx, evaluation_id, results)


_ITEM_INSERT = (
    "INSERT OR REPLACE INTO evaluation_items (evaluation_id, item, role, line, "
    "prompt_sha256, question, reference, model, response, prompt_tokens, "
    "completion_tokens, scores, latency_ms, attempts, cached, error, finished_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def _item_rows(tx: Tx, evaluation_id: int, results: Sequence[ItemResult]) -> None:
    await tx.executemany(
        _ITEM_INSERT,
        [
            (
                evaluation_id,
                r.item,
                r.role,
                r.line,
                r.prompt_sha256,
                r.question,
                r.reference,
                r.model,
                r.response,
                r.prompt_tokens,
                r.completion_tokens,
                orjson.dumps(r.scores).decode(),
                r.latency_ms,
                r.attempts,
                int(r.cached),
                r.error,
                tx.now,
            )
            for r in results
        ],
    )


async def _cache_and_spend(
    tx: Tx,
    evaluation_id: int,
    cache_rows: Iterable[tuple[str, str, str, int, int]],
    spend: Spend,
) -> None:
    fresh = [(*row, tx.now) for row in cache_rows]
    if fresh:
        await tx.executemany(
            "INSERT OR IGNORE INTO completion_cache (key, model, response, prompt_tokens, "
            "completion_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            fresh,
        )
    await tx.execute(
        "UPDATE evaluations SET requests = requests + ?, "
        "cached_requests = cached_requests + ?, "
        "prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?, "
        "cost_usd = cost_usd + ?, updated_at = ? WHERE id = ?",
        (
            spend.requests,
            spend.cached_requests,
            spend.prompt_tokens,
            spend.completion_tokens,
            spend.cost_usd,
            tx.now,
            evaluation_id,
        ),
    )


async def finish(
    store: Store,
    evaluation_id: int,
    status: str,
    *,
    summary: Mapping[str, Any] | None,
    verdict: str | None,
    promoted: bool | None,
    error: str | None,
) -> None:
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE evaluations SET status = ?, summary = ?, verdict = ?, promoted = ?, "
            "error = ?, finished_at = ?, updated_at = ? WHERE id = ?",
            (
                status,
                json.dumps(summary) if summary is not None else None,
                verdict,
                None if promoted is None else int(promoted),
                error,
                tx.now,
                tx.now,
                evaluation_id,
            ),
        )
        await outbox.on_evaluation(tx, evaluation_id)
        tx.note(
            "evaluation_finished",
            evaluation_id=evaluation_id,
            status=status,
            verdict=verdict,
            promoted=promoted,
            error=error,
        )


async def update_summary(store: Store, evaluation_id: int, summary: Mapping[str, Any]) -> None:
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE evaluations SET summary = ?, updated_at = ? WHERE id = ?",
            (json.dumps(dict(summary)), tx.now, evaluation_id),
        )


async def record_promotion(store: Store, evaluation_id: int, promotion: Mapping[str, Any]) -> None:
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE evaluations SET promotion = ?, updated_at = ? WHERE id = ?",
            (json.dumps(dict(promotion)), tx.now, evaluation_id),
        )


# ----------------------------------------------------------------------------- reads


async def items(store: Store, evaluation_id: int) -> list[dict[str, Any]]:
    """Every item row of an evaluation, scores decoded, by item and role."""
    rows = await store.read(
        "SELECT * FROM evaluation_items WHERE evaluation_id = ? ORDER BY item, role",
        (evaluation_id,),
    )
    for row in rows:
        row["scores"] = json.loads(row["scores"]) if row["scores"] else {}
        row["cached"] = bool(row["cached"])
    return rows


async def progress(store: Store, evaluation_id: int) -> dict[str, int]:
    """Items done (both sides written), of which failed on the candidate side."""
    rows = await store.read(
        "SELECT count(DISTINCT item) AS done, "
        "count(DISTINCT CASE WHEN error IS NOT NULL THEN item END) AS errors "
        "FROM evaluation_items WHERE evaluation_id = ?",
        (evaluation_id,),
    )
    return {"done": int(rows[0]["done"]), "errors": int(rows[0]["errors"])}


async def of_job(store: Store, job_id: str) -> list[EvaluationRow]:
    return await _select(store, "WHERE job_id = ? ORDER BY id", (job_id,))


async def of_dataset(store: Store, dataset_id: int) -> list[EvaluationRow]:
    return await _select(store, "WHERE dataset_id = ? ORDER BY id", (dataset_id,))


async def of_model(store: Store, model: str) -> list[EvaluationRow]:
    return await _select(store, "WHERE model = ? ORDER BY id", (model,))


async def children(store: Store, parent_id: int) -> list[EvaluationRow]:
    return await _select(store, "WHERE parent_id = ? ORDER BY id", (parent_id,))


async def running(store: Store) -> list[EvaluationRow]:
    return await _select(store, "WHERE status IN (?, ?) ORDER BY id", (QUEUED, RUNNING))


async def latest_of_models(store: Store, models: Sequence[str]) -> dict[str, EvaluationRow]:
    """The newest evaluation of each model named (any kind), for model lists."""
    wanted = [m for m in models if m]
    if not wanted:
        return {}
    marks = ", ".join("?" * len(wanted))
    rows = await _select(store, f"WHERE model IN ({marks}) ORDER BY id", wanted)
    return {row.model: row for row in rows}  # later rows replace earlier ones


async def counts(store: Store) -> dict[str, int]:
    rows = await store.read("SELECT status, count(*) AS n FROM evaluations GROUP BY status")
    return {str(r["status"]): int(r["n"]) for r in rows}


async def _select(store: Store, where: str, params: Sequence[Any]) -> list[EvaluationRow]:
    rows = await store.read(f"SELECT * FROM evaluations {where}", params)  # noqa: S608
    return [_decode(row) for row in rows]


def _decode(row: dict[str, Any]) -> EvaluationRow:
    for key in EvaluationRow._json:
        if row.get(key) is not None:
            row[key] = json.loads(row[key])
    return EvaluationRow(**row)
