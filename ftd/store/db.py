"""The SQLite store: one connection, WAL, migrations at open, serialised transactions.

The database is the daemon's queue. Every stage moves a row from one state to
the next with a compare-and-set (``transition``): the update names the states
it expects the row to be in, so two workers, or a worker and a restart, can
never both act on one row. Each change is also appended to ``transitions``,
which is how ``ftd show`` tells a dataset's history.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite
import anyio

from ftd.errors import FtdError
from ftd.store.schema import MIGRATIONS, SCHEMA_VERSION

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping
    from pathlib import Path

BUSY_TIMEOUT_MS = 10_000
DUPLICATE = "duplicate"
DETECTED = "detected"


class StoreError(FtdError):
    """The database cannot be opened, migrated or written; says which file and why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"database {path}: {message}")
        self.path = path


@dataclass(frozen=True, slots=True)
class DatasetRow:
    id: int
    sha256: str
    name: str
    path: str
    size_bytes: int
    state: str
    duplicate_of: int | None
    report: dict[str, Any] | None
    settings: dict[str, Any] | None
    estimated_cost_usd: float | None
    approved_at: float | None
    error: str | None
    attempts: int
    next_attempt_at: float | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DatasetRow:
        data = dict(row)
        for key in ("report", "settings"):
            if data[key] is not None:
                data[key] = json.loads(data[key])
        return cls(**data)


_JSON_COLUMNS = frozenset({"report", "settings", "detail", "metadata"})
_DATASET_COLUMNS = frozenset(
    {
        "path",
        "report",
        "settings",
        "estimated_cost_usd",
        "approved_at",
        "error",
        "attempts",
        "next_attempt_at",
    }
)


class Store:
    """Async access to ftd's database; open with ``await Store.open(path)``."""

    def __init__(self, db: aiosqlite.Connection, path: str, clock: Callable[[], float]) -> None:
        self._db = db
        self.path = path
        self._clock = clock
        self._lock = anyio.Lock()

    @classmethod
    async def open(cls, path: str | Path, *, clock: Callable[[], float] = time.time) -> Store:
        name = str(path)
        try:
            db = await aiosqlite.connect(name, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(name, f"cannot open: {exc}") from exc
        db.row_factory = sqlite3.Row
        store = cls(db, name, clock)
        try:
            await store._configure()
            await store._migrate()
        except sqlite3.Error as exc:
            await db.close()
            raise StoreError(name, f"cannot prepare: {exc}") from exc
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    async def _configure(self) -> None:
        # WAL lets readers (the control socket) run beside the writer; FULL makes
        # every commit durable before the call returns, so a crash loses nothing.
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=FULL")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    async def _migrate(self) -> None:
        version = await self.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                self.path,
                f"schema version {version} is newer than this ftd knows ({SCHEMA_VERSION}); "
                "upgrade ftd",
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # The whole migration and its version bump commit together, or not at all.
            async with self._lock:
                try:
                    await self._db.executescript(
                        f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={number};\nCOMMIT;"
                    )
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        if self._db.in_transaction:
                            await self._db.execute("ROLLBACK")
                    raise

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def integrity_check(self) -> str:
        async with self._db.execute("PRAGMA integrity_check") as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else "no answer"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, one at a time; rolled back on any exception."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._db.execute("ROLLBACK")
                raise
            else:
                with anyio.CancelScope(shield=True):
                    await self._db.execute("COMMIT")

    # ------------------------------------------------------------------ datasets

    async def add_dataset(
        self, *, sha256: str, name: str, path: str, size_bytes: int
    ) -> DatasetRow:
        """Record a newly found file; the same content a second time is a duplicate row."""
        now = self._clock()
        async with self.transaction() as db:
            async with db.execute(
                "SELECT id FROM datasets WHERE sha256 = ? AND duplicate_of IS NULL", (sha256,)
            ) as cursor:
                original = await cursor.fetchone()
            state = DETECTED if original is None else DUPLICATE
            cursor = await db.execute(
                "INSERT INTO datasets (sha256, name, path, size_bytes, state, duplicate_of, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sha256,
                    name,
                    path,
                    size_bytes,
                    state,
                    original[0] if original else None,
                    now,
                    now,
                ),
            )
            new_id = cursor.lastrowid
            assert new_id is not None
            await self._log(db, "dataset", new_id, None, state, None, now)
        found = await self.dataset(new_id)
        assert found is not None
        return found

    async def dataset(self, dataset_id: int) -> DatasetRow | None:
        async with self._db.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)) as cur:
            row = await cur.fetchone()
        return DatasetRow.from_row(row) if row else None

    async def datasets(
        self, states: Iterable[str] | None = None, *, due: bool = False, limit: int = 1000
    ) -> list[DatasetRow]:
        """Datasets in the given states, oldest first; ``due`` skips those waiting to retry."""
        sql = "SELECT * FROM datasets"
        clauses: list[str] = []
        params: list[Any] = []
        if states is not None:
            wanted = list(states)
            clauses.append(f"state IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        if due:
            clauses.append("(next_attempt_at IS NULL OR next_attempt_at <= ?)")
            params.append(self._clock())
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        async with self._db.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
        return [DatasetRow.from_row(r) for r in rows]

    async def transition(
        self,
        dataset_id: int,
        expected: str | Iterable[str],
        new_state: str,
        *,
        detail: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Move a dataset to ``new_state`` if it is in ``expected``; False if it was not.

        ``fields`` sets other columns in the same statement, so the new state and
        what the stage learned are committed together or not at all.
        """
        allowed = [expected] if isinstance(expected, str) else list(expected)
        unknown = fields.keys() - _DATASET_COLUMNS
        if unknown:
            raise ValueError(f"not dataset columns: {', '.join(sorted(unknown))}")
        now = self._clock()
        sets = ["state = ?", "updated_at = ?"]
        params: list[Any] = [new_state, now]
        for key, value in fields.items():
            sets.append(f"{key} = ?")
            params.append(
                json.dumps(value) if key in _JSON_COLUMNS and value is not None else value
            )
        async with self.transaction() as db:
            async with db.execute(
                "SELECT state FROM datasets WHERE id = ?", (dataset_id,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None or row[0] not in allowed:
                return False
            await db.execute(
                f"UPDATE datasets SET {', '.join(sets)} WHERE id = ?",  # noqa: S608 - column names are checked above
                [*params, dataset_id],
            )
            await self._log(db, "dataset", dataset_id, row[0], new_state, detail, now)
        return True

    async def history(self, entity: str, entity_id: int) -> list[tuple[str | None, str, float]]:
        async with self._db.execute(
            "SELECT from_state, to_state, at FROM transitions WHERE entity = ? AND entity_id = ? "
            "ORDER BY id",
            (entity, entity_id),
        ) as cursor:
            rows = await cursor.fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    async def _log(
        self,
        db: aiosqlite.Connection,
        entity: str,
        entity_id: int,
        old: str | None,
        new: str,
        detail: Mapping[str, Any] | None,
        now: float,
    ) -> None:
        await db.execute(
            "INSERT INTO transitions (entity, entity_id, from_state, to_state, at, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (entity, entity_id, old, new, now, json.dumps(detail) if detail else None),
        )
