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
    from collections.abc import AsyncIterator, Callable, Iterable, Sequence

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
    """How many batches each of these requests failed in, for those that failed at all."""
    found: dict[str, int] = {}
    any_failed = await store.read(
        "SELECT 1 FROM eval_batch_failures WHERE evaluation_id = ? LIMIT 1", (evaluation_id,)
    )
    if not any_failed:  # (almost always: no lookup for each of a chunk's thousands of requests)
        return found
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


ANSWERED = "answered"  # a request's outcome once its output line is in
FAILED = "failed"  # ... or once it failed (an error line, or missing from the output)


@dataclass(frozen=True, slots=True)
class OutputLine:
    """One line of a batch's output or error file, read: an answer, or why there is none."""

    custom_id: str
    text: str | None  # None: the request failed, ``reason`` says why
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reason: str | None = None
    # Committed before the batch's requests were indexed (by a version of ftd that kept
    # only ``committed_lines``): its outcome is recorded, its answer not paid again.
    paid_before: bool = False


async def indexed(store: Store, batch_row_id: int) -> int:
    """How many of a batch's requests are recorded by custom_id."""
    rows = await store.read(
        "SELECT count(*) AS n FROM eval_batch_requests WHERE batch = ?", (batch_row_id,)
    )
    return int(rows[0]["n"])


async def index_requests(
    store: Store, batch_row_id: int, requests: Iterable[tuple[str, str]]
) -> None:
    """Record (custom_id, cache key) pairs of a batch; one already recorded keeps its outcome."""
    async with store.transaction() as tx:
        await tx.executemany(
            "INSERT OR IGNORE INTO eval_batch_requests (batch, custom_id, key) VALUES (?, ?, ?)",
            ((batch_row_id, custom_id, key) for custom_id, key in requests),
        )


async def commit_lines(
    store: Store,
    batch: BatchRow,
    upto: int,
    lines: Sequence[OutputLine],
    cost: Callable[[int, int], float],
) -> int:
    """A run of output lines, each request's once; how many answers it brought in.

    A line counts only if its custom_id is one of the batch's requests and
    that request has no outcome yet; the outcome is recorded in the same
    commit as the answer's cache row, its tokens and its cost (``cost`` of
    the tokens in and out), so a line said twice, or read again after a
    crash, is neither counted nor paid for a second time. Each answer is paid
    for, one the cache already holds included: the provider bills it.
    """
    answered = prompt = completion = 0
    spent = 0.0
    async with store.transaction() as tx:
        keys: dict[str, str] = {}
        wanted = list({line.custom_id for line in lines})
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            cursor = await tx.execute(
                "SELECT custom_id, key FROM eval_batch_requests "  # noqa: S608
                f"WHERE batch = ? AND outcome IS NULL AND custom_id IN ({marks})",
                (batch.id, *chunk),
            )
            keys.update((str(r[0]), str(r[1])) for r in await cursor.fetchall())
        cached: list[tuple[str, str, str, int, int, float]] = []
        failures: list[tuple[int, str, str, str]] = []
        outcomes: list[tuple[str, int, str]] = []
        for line in lines:
            key = keys.pop(line.custom_id, None)
            if key is None:
                continue  # not one of this batch's requests, or settled already
            if line.text is None:
                reason = (line.reason or "failed in the batch")[:500]
                failures.append((batch.evaluation_id, line.custom_id, batch.tag, reason))
                outcomes.append((FAILED, batch.id, line.custom_id))
                continue
            cached.append(
                (key, batch.model, line.text, line.prompt_tokens, line.completion_tokens, tx.now)
            )
            outcomes.append((ANSWERED, batch.id, line.custom_id))
            if line.paid_before:
                continue
            answered += 1
            prompt += line.prompt_tokens
            completion += line.completion_tokens
            spent += cost(line.prompt_tokens, line.completion_tokens)
        # In key order (and the outcomes in custom_id order): each index page is visited
        # once, in order, rather than at random (a tenth less CPU a line at 300,000 rows).
        # The sort is stable: of two answers under one key the first in the file stays.
        cached.sort(key=lambda row: row[0])
        await tx.executemany(
            "INSERT OR IGNORE INTO completion_cache (key, model, response, prompt_tokens, "
            "completion_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            cached,
        )
        await tx.executemany(
            "INSERT OR IGNORE INTO eval_batch_failures (evaluation_id, custom_id, batch_tag, "
            "reason) VALUES (?, ?, ?, ?)",
            failures,
        )
        outcomes.sort(key=lambda outcome: outcome[2])
        await tx.executemany(
            "UPDATE eval_batch_requests SET outcome = ? WHERE batch = ? AND custom_id = ?",
            outcomes,
        )
        await tx.execute(
            "UPDATE eval_batches SET committed_lines = max(committed_lines, ?), updated_at = ? "
            "WHERE id = ?",
            (upto, tx.now, batch.id),
        )
        if answered:
            await tx.execute(
                "UPDATE evaluations SET requests = requests + ?, prompt_tokens = prompt_tokens "
                "+ ?, completion_tokens = completion_tokens + ?, cost_usd = cost_usd + ?, "
                "updated_at = ? WHERE id = ?",
                (answered, prompt, completion, spent, tx.now, batch.evaluation_id),
            )
            await tx.execute(
                "UPDATE eval_batch_runs SET batch_cost_usd = batch_cost_usd + ? "
                "WHERE evaluation_id = ?",
                (spent, batch.evaluation_id),
            )
    return answered


async def fail_unsettled(store: Store, batch: BatchRow, reason: str, *, limit: int) -> int:
    """Up to ``limit`` of the batch's requests without an outcome recorded as failed; how many.

    Called until it answers 0, once the output and error files are in: what
    neither file told of failed for ``reason`` (and is retried in a later batch).
    """
    async with store.transaction() as tx:
        cursor = await tx.execute(
            "SELECT custom_id FROM eval_batch_requests WHERE batch = ? AND outcome IS NULL LIMIT ?",
            (batch.id, limit),
        )
        ids = [str(r[0]) for r in await cursor.fetchall()]
        await tx.executemany(
            "INSERT OR IGNORE INTO eval_batch_failures (evaluation_id, custom_id, batch_tag, "
            "reason) VALUES (?, ?, ?, ?)",
            ((batch.evaluation_id, custom_id, batch.tag, reason[:500]) for custom_id in ids),
        )
        await tx.executemany(
            "UPDATE eval_batch_requests SET outcome = ? WHERE batch = ? AND custom_id = ?",
            ((FAILED, batch.id, custom_id) for custom_id in ids),
        )
    return len(ids)


async def settle(
    store: Store, batch: BatchRow, status: str, error: str | None = None
) -> tuple[int, int]:
    """The batch committed with its requests' counts (answered, failed), its requests forgotten.

    Every request has an outcome by now (see ``fail_unsettled``); the counts
    are read from them, in the commit that marks the batch done.
    """
    async with store.transaction() as tx:
        row = await tx.one(
            "SELECT count(*) AS n, coalesce(sum(outcome = ?), 0) AS answered "
            "FROM eval_batch_requests WHERE batch = ?",
            (ANSWERED, batch.id),
        )
        total = int(row["n"]) if row is not None else 0
        answered = int(row["answered"]) if row is not None else 0
        await tx.execute(
            "UPDATE eval_batches SET committed = 1, status = ?, completed = ?, failed = ?, "
            "error = coalesce(?, error), updated_at = ? WHERE id = ?",
            (status, answered, total - answered, error, tx.now, batch.id),
        )
        await tx.execute("DELETE FROM eval_batch_requests WHERE batch = ?", (batch.id,))
    return answered, total - answered


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
