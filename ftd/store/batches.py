"""Rows of evaluations run through a provider's batch engine: intent before effect.

A batch row is written (with its request file already on disk) before the
file is uploaded and before the batch is created; the file's and the batch's
ids are recorded the moment they are known, so after a crash each batch is
found again (by the file's name, by the batch's metadata tag) rather than
made twice. Output lines become completion cache rows, inserted once by
their key: a replayed output file adds no row and no spend a second time.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ftd.store.rows import _Row

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Sequence

    from ftd.store import Store

WRITTEN = "written"  # the request file is on disk, nothing sent yet


@dataclass(frozen=True, slots=True)
class BatchRun:
    evaluation_id: int
    mode: str
    reason: str
    token: str
    batch_cost_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class BatchRow(_Row):
    id: int
    evaluation_id: int
    stage: str
    tag: str
    path: str
    model: str
    requests: int
    bytes: int
    file_id: str | None
    batch_id: str | None
    status: str
    completed: int
    failed: int
    committed: int
    committed_lines: int
    error: str | None
    created_at: float
    updated_at: float


async def run_of(store: Store, evaluation_id: int) -> BatchRun | None:
    rows = await store.read(
        "SELECT evaluation_id, mode, reason, token, batch_cost_usd FROM eval_batch_runs "
        "WHERE evaluation_id = ?",
        (evaluation_id,),
    )
    return BatchRun(**rows[0]) if rows else None


async def choose(store: Store, evaluation_id: int, mode: str, reason: str) -> BatchRun:
    """Record the mode an evaluation runs in; the first choice stands across restarts."""
    async with store.transaction() as tx:
        await tx.execute(
            "INSERT OR IGNORE INTO eval_batch_runs (evaluation_id, mode, reason, token, "
            "created_at) VALUES (?, ?, ?, ?, ?)",
            (evaluation_id, mode, reason, secrets.token_hex(4), tx.now),
        )
    found = await run_of(store, evaluation_id)
    assert found is not None
    return found


async def intend(
    store: Store,
    evaluation_id: int,
    stage: str,
    tag: str,
    path: str,
    model: str,
    requests: int,
    size: int,
) -> BatchRow:
    async with store.transaction() as tx:
        await tx.execute(
            "INSERT INTO eval_batches (evaluation_id, stage, tag, path, model, requests, bytes, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (evaluation_id, stage, tag, path, model, requests, size, tx.now, tx.now),
        )
        tx.note(
            "eval_batch_intended",
            evaluation_id=evaluation_id,
            stage=stage,
            tag=tag,
            model=model,
            requests=requests,
            bytes=size,
        )
    rows = await _select(store, "WHERE tag = ?", (tag,))
    return rows[0]


async def update(store: Store, row_id: int, **changes: Any) -> None:
    allowed = {"file_id", "batch_id", "status", "completed", "failed", "committed", "error"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not batch columns: {sorted(unknown)}")
    names = sorted(changes)
    assignments = ", ".join(f"{name} = ?" for name in names)
    async with store.transaction() as tx:
        await tx.execute(
            f"UPDATE eval_batches SET {assignments}, updated_at = ? WHERE id = ?",  # noqa: S608
            (*[changes[n] for n in names], tx.now, row_id),
        )


async def open_batches(store: Store, evaluation_id: int, stage: str) -> list[BatchRow]:
    return await _select(
        store,
        "WHERE evaluation_id = ? AND stage = ? AND committed = 0 ORDER BY id",
        (evaluation_id, stage),
    )


async def of_evaluation(store: Store, evaluation_id: int) -> list[BatchRow]:
    return await _select(store, "WHERE evaluation_id = ? ORDER BY id", (evaluation_id,))


async def next_seq(store: Store, evaluation_id: int) -> int:
    rows = await store.read(
        "SELECT count(*) AS n FROM eval_batches WHERE evaluation_id = ?", (evaluation_id,)
    )
    return int(rows[0]["n"])


async def cached_keys(store: Store, keys: Sequence[str]) -> set[str]:
    """Which of these completion keys are answered already (in chunks the driver accepts)."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = await store.read(
            f"SELECT key FROM completion_cache WHERE key IN ({marks})",  # noqa: S608
            chunk,
        )
        found.update(str(r["key"]) for r in rows)
    return found


async def cached_texts(store: Store, keys: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = await store.read(
            f"SELECT key, response FROM completion_cache WHERE key IN ({marks})",  # noqa: S608
            chunk,
        )
        found.update((str(r["key"]), str(r["response"])) for r in rows)
    return found


async def failure_counts(
    store: Store, evaluation_id: int, custom_ids: Sequence[str]
) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(custom_ids), 500):
        chunk = custom_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = await store.read(
            "SELECT custom_id, count(*) AS n FROM eval_batch_failures "  # noqa: S608
            f"WHERE evaluation_id = ? AND custom_id IN ({marks}) GROUP BY custom_id",
            (evaluation_id, *chunk),
        )
        found.update((str(r["custom_id"]), int(r["n"])) for r in rows)
    return found


async def commit_answers(
    store: Store,
    evaluation_id: int,
    batch_row_id: int,
    upto: int,
    answers: Iterable[tuple[str, str, str, int, int, float]],
) -> None:
    """A run of output lines (key, model, text, tokens in, out, cost) and the line they reach.

    Each line is paid for (the provider bills every request in the file, an
    answer the cache holds already included), and the batch row records in
    the same commit how many of its output lines are in: a replay after a
    crash starts after them, so no line is counted or paid for twice.
    """
    requests = prompt = completion = 0
    cost = 0.0
    async with store.transaction() as tx:
        for key, model, text, prompt_tokens, completion_tokens, price in answers:
            await tx.execute(
                "INSERT OR IGNORE INTO completion_cache (key, model, response, prompt_tokens, "
                "completion_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key, model, text, prompt_tokens, completion_tokens, tx.now),
            )
            requests += 1
            prompt += prompt_tokens
            completion += completion_tokens
            cost += price
        await tx.execute(
            "UPDATE eval_batches SET committed_lines = ?, updated_at = ? WHERE id = ?",
            (upto, tx.now, batch_row_id),
        )
        if requests:
            await tx.execute(
                "UPDATE evaluations SET requests = requests + ?, prompt_tokens = prompt_tokens "
                "+ ?, completion_tokens = completion_tokens + ?, cost_usd = cost_usd + ?, "
                "updated_at = ? WHERE id = ?",
                (requests, prompt, completion, cost, tx.now, evaluation_id),
            )
            await tx.execute(
                "UPDATE eval_batch_runs SET batch_cost_usd = batch_cost_usd + ? "
                "WHERE evaluation_id = ?",
                (cost, evaluation_id),
            )


async def commit_failures(
    store: Store, evaluation_id: int, batch_tag: str, failures: Iterable[tuple[str, str]]
) -> None:
    async with store.transaction() as tx:
        for custom_id, reason in failures:
            await tx.execute(
                "INSERT OR IGNORE INTO eval_batch_failures (evaluation_id, custom_id, batch_tag, "
                "reason) VALUES (?, ?, ?, ?)",
                (evaluation_id, custom_id, batch_tag, reason[:500]),
            )


async def failure_reasons(
    store: Store, evaluation_id: int, limit: int = 20
) -> list[dict[str, Any]]:
    """The latest reason of each request that failed in a batch, with how often it failed."""
    return await store.read(
        "SELECT custom_id, count(*) AS attempts, max(reason) AS reason FROM eval_batch_failures "
        "WHERE evaluation_id = ? GROUP BY custom_id ORDER BY custom_id LIMIT ?",
        (evaluation_id, limit),
    )


async def progress(store: Store, evaluation_id: int) -> dict[str, Any] | None:
    """Each stage's batches with their requests completed, failed and pending; the mode."""
    run = await run_of(store, evaluation_id)
    if run is None:
        return None
    stages: dict[str, dict[str, Any]] = {}
    for row in await of_evaluation(store, evaluation_id):
        stage = stages.setdefault(
            row.stage, {"batches": 0, "requests": 0, "completed": 0, "failed": 0, "pending": 0}
        )
        stage["batches"] += 1
        stage["requests"] += row.requests
        stage["completed"] += row.completed
        stage["failed"] += row.failed
        stage["pending"] += max(0, row.requests - row.completed - row.failed)
    failures = await store.read(
        "SELECT count(DISTINCT custom_id) AS n FROM eval_batch_failures WHERE evaluation_id = ?",
        (evaluation_id,),
    )
    return {
        "mode": run.mode,
        "reason": run.reason,
        "stages": stages,
        "failed_requests": int(failures[0]["n"]),
    }


SUMMARY_CHUNK = 2000


async def summary_chunks(
    store: Store, evaluation_id: int, *, size: int = SUMMARY_CHUNK
) -> AsyncIterator[list[dict[str, Any]]]:
    """An evaluation's item rows for its summary, a chunk at a time, each item whole.

    Only what the summary reads (no questions, answers or explanations), and
    never every row at once: a hundred thousand items' grades read whole
    would hold hundreds of megabytes. Scores stay JSON text here; the
    caller decodes them where the work is done (see ``decode_scores``).
    """
    after = -1
    while True:
        rows = await store.read(
            "SELECT item, role, error, scores FROM evaluation_items "
            "WHERE evaluation_id = ? AND item > ? ORDER BY item, role LIMIT ?",
            (evaluation_id, after, size),
        )
        if not rows:
            return
        full = len(rows) == size
        if full:
            last = rows[-1]["item"]
            kept = [r for r in rows if r["item"] != last]
            # A chunk that ended inside an item ends before it; that item comes next.
            rows = kept or rows
        after = int(rows[-1]["item"])
        yield rows
        if not full:
            return


def decode_scores(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows from ``summary_chunks`` with their scores decoded, judges' explanations dropped."""
    for row in rows:
        scores = orjson.loads(row["scores"]) if row["scores"] else {}
        for entry in scores.values():
            if isinstance(entry, dict):
                entry.pop("explanation", None)
        row["scores"] = scores
    return rows


async def _select(store: Store, where: str, params: Sequence[Any]) -> list[BatchRow]:
    rows = await store.read(f"SELECT * FROM eval_batches {where}", params)  # noqa: S608
    return [BatchRow(**row) for row in rows]
