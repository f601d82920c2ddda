"""The SQLite store: one connection, WAL, migrations at open, serialised transactions.

The database is the daemon's queue. Every stage moves a row from one state to
the next with a compare-and-set (``transition``): the update names the states
it expects the row to be in, so two workers, or a worker and a restart, can
never both act on one row. Each change is also appended to ``transitions``,
which is how ``ftd show`` tells a dataset's history.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import aiosqlite
import anyio

from ftd.errors import FtdError
from ftd.logs import get_logger
from ftd.profiles import DEFAULT_PROFILE
from ftd.store import outbox, states
from ftd.store.changes import Change
from ftd.store.rows import DatasetRow, FileRow, JobRow, RevisedJobs, SplitRow, UploadRow
from ftd.store.schema import MIGRATIONS, SCHEMA_VERSION
from ftd.store.tracking import EVENT_ORDER, Cycle, apply_cycle

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
    from pathlib import Path

log = get_logger("ftd.store")

BUSY_TIMEOUT_MS = 10_000


# SQLite's primary result codes for a database that is busy, locked, full or unwritable.
MACHINE_TROUBLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
    }
)


def refused_by_machine(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused for the machine's state (a lock, a full disk), not for the SQL."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in MACHINE_TROUBLE


class StoreError(FtdError):
    """The database cannot be opened, migrated or written; says which file and why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"database {path}: {message}")
        self.path = path


_JSON_COLUMNS = frozenset({"report", "settings", "detail", "metadata"})
_DATASET_COLUMNS = frozenset(
    {
        "path",
        "duplicate_of",
        "report",
        "settings",
        "estimated_cost_usd",
        "approved_at",
        "error",
        "attempts",
        "next_attempt_at",
        "run_of",
    }
)


class Store:
    """Async access to ftd's database; open with ``await Store.open(path)``."""

    def __init__(self, db: aiosqlite.Connection, path: str, clock: Callable[[], float]) -> None:
        self._db = db
        self.path = path
        self._clock = clock
        self._lock = anyio.Lock()
        # The socket's views read through their own connection: WAL lets them
        # run while a write waits on a lock held by another process.
        self._reader = db
        # Told of every write the machine refuses, whoever made it: the notifier
        # learns of a lock or a full disk at the first refusal, not at its own.
        self.on_refused: Callable[[sqlite3.Error], None] | None = None
        # Writes waiting to share the next grouped commit (see ``grouped``).
        self._group: list[_GroupEntry] = []
        self._group_lock = anyio.Lock()

    @classmethod
    async def open(cls, path: str | Path, *, clock: Callable[[], float] = time.time) -> Store:
        name = str(path)
        connection = aiosqlite.connect(name, isolation_level=None)
        try:
            db = await connection
        except sqlite3.Error as exc:
            # aiosqlite has queued its worker thread's stop without waiting for it; a
            # thread still finishing after the event loop has closed would fail there.
            await anyio.to_thread.run_sync(connection._thread.join, 5.0)
            raise StoreError(name, f"cannot open: {exc}") from exc
        db.row_factory = sqlite3.Row
        store = cls(db, name, clock)
        try:
            await store._configure()
            await store._migrate()
            if name != ":memory:":
                store._reader = await aiosqlite.connect(name, isolation_level=None)
                store._reader.row_factory = sqlite3.Row
                await store._reader.execute("PRAGMA query_only=ON")
                await store._reader.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            await store.close()
            raise StoreError(name, f"cannot prepare: {exc}") from exc
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        if self._reader is not self._db:
            await self._reader.close()
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

    async def instance(self) -> str:
        """This installation's id (made by the schema), which tags all its jobs."""
        rows = await self._all("SELECT value FROM meta WHERE key = 'instance'")
        return str(rows[0][0])

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def integrity_check(self) -> str:
        async with self._db.execute("PRAGMA integrity_check") as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else "no answer"

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        # One trip to the database's thread (a cursor's execute, fetch and close are three).
        return list(await self._db.execute_fetchall(sql, params))

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query, as dicts: for views that join or count (the socket's)."""
        return [dict(r) for r in await self._reader.execute_fetchall(sql, params)]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """BEGIN IMMEDIATE … COMMIT, one at a time; rolled back on any exception.

        State changes made through the Tx are logged once the commit succeeded,
        so the log never tells of a change the database does not hold.
        """
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._refused(exc)
                raise
            tx = Tx(self._db, self._clock())
            try:
                yield tx
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await self._rollback()
                if isinstance(exc, sqlite3.Error):
                    self._refused(exc)
                raise
            else:
                with anyio.CancelScope(shield=True):
                    try:
                        await self._db.execute("COMMIT")
                    except BaseException as exc:
                        # A failed commit (disk full, locked) may leave the transaction
                        # open, and every later BEGIN would fail.
                        await self._rollback()
                        if isinstance(exc, sqlite3.Error):
                            self._refused(exc)
                        raise
        for event in tx.changes:
            log.info(event.pop("event"), **event)

    async def grouped(self, work: Callable[[Tx], Awaitable[None]]) -> None:
        """Run ``work`` in a transaction it may share with other grouped writes.

        Each commit waits for its sync to the disk (``synchronous=FULL``), and
        a sync costs a few milliseconds whatever it carries: an evaluation
        committing one item per transaction is held to a few hundred items a
        second by the disk alone. Writes that arrive while one group commits
        go together in the next; a work that fails is left out of it, and
        only its caller sees the error. It returns once its work is durable,
        as ``transaction`` does.
        """
        entry = _GroupEntry(work)
        self._group.append(entry)
        try:
            async with self._group_lock:
                if not entry.settled:
                    batch, self._group = self._group, []
                    await self._commit_group(batch, entry)
        except BaseException:
            # A caller cancelled while it waited takes its write back: nothing of it is done
            # (unless a commit under way already carries it: then it is done, whole).
            entry.abandoned = True
            if not entry.settled and entry in self._group:
                self._group.remove(entry)
            raise
        if entry.error is not None:
            raise entry.error

    async def _commit_group(self, batch: list[_GroupEntry], own: _GroupEntry) -> None:
        """Commit the batch's writes in one transaction; a write that fails is left out.

        A failing write rolls the whole transaction back; the others then go
        again without it, so only its caller hears of it. A failure that is
        not a write's own (the lock, the disk, the commit) is every caller's.
        """
        pending = list(batch)
        try:
            while pending:
                culprit: _GroupEntry | None = None
                try:
                    async with self.transaction() as tx:
                        for entry in pending:
                            culprit = entry
                            await entry.work(tx)
                        culprit = None
                except Exception as exc:
                    if culprit is None or (
                        isinstance(exc, sqlite3.Error) and refused_by_machine(exc)
                    ):
                        for entry in pending:
                            entry.error, entry.settled = exc, True
                        return
                    culprit.error, culprit.settled = exc, True
                    pending.remove(culprit)
                    continue
                for entry in pending:
                    entry.settled = True
                return
        except BaseException:
            # The committing caller was cancelled: the writes of those still waiting go
            # with the next group; a write whose caller has gone is dropped with it.
            self._group[:0] = [e for e in pending if e is not own and not e.abandoned]
            raise

    def _refused(self, exc: sqlite3.Error) -> None:
        """Tell ``on_refused`` of a write the machine refused (locked, full, unwritable)."""
        if self.on_refused is not None and refused_by_machine(exc):
            self.on_refused(exc)

    async def probe_write(self) -> None:
        """Take the write lock and let it go, writing nothing; raises what a write would meet.

        A database locked by another process beyond the busy timeout refuses
        this as it would refuse a change, so a watcher learns of the lock
        without a change of its own to make (nothing is written, nothing synced).
        """
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._refused(exc)
                raise
            with anyio.CancelScope(shield=True):
                await self._db.execute("ROLLBACK")

    async def _rollback(self) -> None:
        """Roll back what is open; SQLite may have rolled back by itself after an error."""
        if self._db.in_transaction:
            await self._db.execute("ROLLBACK")

    # ------------------------------------------------------------------ datasets

    async def add_dataset(
        self,
        *,
        sha256: str,
        name: str,
        path: str,
        size_bytes: int,
        moves: Mapping[str, tuple[str, str]] | None = None,
        tag: str | None = None,
        owner_uid: int | None = None,
        identities: Mapping[str, str] | None = None,
    ) -> DatasetRow:
        """Record a newly found file and where its files are going (role -> (from, to)).

        ``tag`` names the dataset's remote objects; a random one if not given.
        ``identities`` holds each moved file's device:inode as it was taken.
        """
        async with self.transaction() as tx:
            cursor = await tx.db.execute(
                "INSERT INTO datasets (sha256, name, path, size_bytes, state, tag, "
                "owner_uid, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sha256,
                    name,
                    path,
                    size_bytes,
                    states.DETECTED,
                    tag or secrets.token_hex(8),
                    owner_uid,
                    tx.now,
                    tx.now,
                ),
            )
            new_id = cursor.lastrowid
            assert new_id is not None
            for role, (source, target) in (moves or {}).items():
                await tx.db.execute(
                    "INSERT INTO dataset_files (dataset_id, role, path, moving_from, identity) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (new_id, role, target, source, (identities or {}).get(role)),
                )
            await tx.log_change("dataset", new_id, None, states.DETECTED, None, name=name)
        found = await self.dataset(new_id)
        assert found is not None
        return found

    async def original_of(self, dataset: DatasetRow) -> DatasetRow | None:
        """An earlier dataset with the same content that makes this one a duplicate.

        One still on its way or done counts; one that was rejected, failed or
        blocked does not, since the same lines may pass with another sidecar or
        once the provider has been fixed.
        """
        excluded = sorted(states.NOT_AN_ORIGINAL)
        rows = await self._all(
            "SELECT * FROM datasets WHERE sha256 = ? AND id < ? AND duplicate_of IS NULL "  # noqa: S608
            f"AND state NOT IN {_marks(excluded)} ORDER BY id LIMIT 1",
            (dataset.sha256, dataset.id, *excluded),
        )
        return DatasetRow.from_row(rows[0]) if rows else None

    async def postpone(self, dataset_id: int, until: float, error: str | None) -> int:
        """Try this dataset again at ``until``; its state stays. Returns the attempts so far."""
        async with self.transaction() as tx:
            await tx.db.execute(
                "UPDATE datasets SET attempts = attempts + 1, next_attempt_at = ?, error = ?, "
                "updated_at = ? WHERE id = ?",
                (until, error, tx.now, dataset_id),
            )
            row = await tx.one("SELECT attempts FROM datasets WHERE id = ?", (dataset_id,))
            attempts = int(row[0]) if row else 0
            tx.note(
                "dataset_postponed",
                dataset_id=dataset_id,
                attempts=attempts,
                retry_in=round(until - tx.now, 1),
                error=error,
            )
        return attempts

    async def retry_now(self, wanted: Iterable[str]) -> int:
        """Make postponed datasets in these states due at once; how many there were."""
        names = list(wanted)
        async with self.transaction() as tx:
            cursor = await tx.db.execute(
                f"UPDATE datasets SET next_attempt_at = NULL WHERE state IN {_marks(names)} "  # noqa: S608
                "AND next_attempt_at IS NOT NULL",
                names,
            )
            return cursor.rowcount

    async def dataset(self, dataset_id: int) -> DatasetRow | None:
        rows = await self._all("SELECT * FROM datasets WHERE id = ?", (dataset_id,))
        return DatasetRow.from_row(rows[0]) if rows else None

    async def datasets(
        self, wanted: Iterable[str] | None = None, *, due: bool = False, limit: int = 1000
    ) -> list[DatasetRow]:
        """Datasets in the given states, the producers' in turn; ``due`` skips those waiting.

        Each producer's (owner's) oldest comes first, then each one's second
        oldest, and so on: one producer's thousand files do not hold up
        another's one. Among the same turn, the oldest first.
        """
        sql = (
            "SELECT id, ROW_NUMBER() OVER (PARTITION BY owner_uid ORDER BY id) AS turn "
            "FROM datasets"
        )
        clauses: list[str] = []
        params: list[Any] = []
        if wanted is not None:
            names = list(wanted)
            clauses.append(f"state IN {_marks(names)}")
            params.extend(names)
        if due:
            clauses.append("(next_attempt_at IS NULL OR next_attempt_at <= ?)")
            params.append(self._clock())
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql = (
            f"SELECT d.* FROM datasets d JOIN ({sql}) t ON t.id = d.id "  # noqa: S608 - fixed text
            "ORDER BY t.turn, d.id LIMIT ?"
        )
        params.append(limit)
        return [DatasetRow.from_row(r) for r in await self._all(sql, params)]

    async def next_attempt(self, wanted: Iterable[str]) -> float | None:
        """The earliest time a dataset in these states waits for; None if none waits."""
        names = list(wanted)
        rows = await self._all(
            f"SELECT min(next_attempt_at) FROM datasets WHERE state IN {_marks(names)}",  # noqa: S608
            names,
        )
        value = rows[0][0] if rows else None
        return float(value) if value is not None else None

    async def transition(
        self,
        dataset_id: int,
        expected: str | Iterable[str],
        new_state: str,
        *,
        detail: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Move a dataset to ``new_state`` if it is in ``expected``; False if it was not."""
        async with self.transaction() as tx:
            return await tx.transition(dataset_id, expected, new_state, detail=detail, **fields)

    async def files(self, dataset_id: int) -> dict[str, FileRow]:
        rows = await self._all("SELECT * FROM dataset_files WHERE dataset_id = ?", (dataset_id,))
        return {r["role"]: FileRow.from_row(r) for r in rows}

    async def pending_moves(self) -> list[FileRow]:
        rows = await self._all(
            "SELECT * FROM dataset_files WHERE moving_from IS NOT NULL ORDER BY dataset_id, role"
        )
        return [FileRow.from_row(r) for r in rows]

    async def finish_move(self, dataset_id: int, role: str, path: str | None = None) -> None:
        """The move is done (``path`` if it ended somewhere other than planned)."""
        async with self.transaction() as tx:
            await tx.db.execute(
                "UPDATE dataset_files SET moving_from = NULL, path = coalesce(?, path) "
                "WHERE dataset_id = ? AND role = ?",
                (path, dataset_id, role),
            )

    async def refuse_move(self, dataset_id: int, role: str, reason: str) -> None:
        """The move will not be made: the file stays where it was, and ``reason`` says why."""
        async with self.transaction() as tx:
            await tx.db.execute(
                "UPDATE dataset_files SET path = coalesce(moving_from, path), "
                "moving_from = NULL, refused = ? WHERE dataset_id = ? AND role = ?",
                (reason, dataset_id, role),
            )

    async def splits(self, dataset_id: int) -> dict[str, SplitRow]:
        rows = await self._all("SELECT * FROM splits WHERE dataset_id = ?", (dataset_id,))
        return {r["side"]: SplitRow.from_row(r) for r in rows}

    # ------------------------------------------------------------------ uploads

    async def upload_intent(
        self, dataset_id: int, side: str, filename: str, size: int
    ) -> tuple[UploadRow, bool]:
        """The upload row for (dataset, side), written now if new; True if it existed before.

        An intent that existed before means an earlier attempt may have reached
        the provider: look the file up by name before sending it again.
        """
        async with self.transaction() as tx:
            before = await tx.one(
                "SELECT * FROM uploads WHERE dataset_id = ? AND side = ?", (dataset_id, side)
            )
            if before is None:
                await tx.db.execute(
                    "INSERT INTO uploads (dataset_id, side, filename, bytes, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (dataset_id, side, filename, size, tx.now, tx.now),
                )
            row = await tx.one(
                "SELECT * FROM uploads WHERE dataset_id = ? AND side = ?", (dataset_id, side)
            )
        assert row is not None
        return UploadRow.from_row(row), before is not None

    async def record_upload(self, dataset_id: int, side: str, file_id: str) -> None:
        async with self.transaction() as tx:
            await tx.db.execute(
                "UPDATE uploads SET file_id = ?, updated_at = ? WHERE dataset_id = ? AND side = ?",
                (file_id, tx.now, dataset_id, side),
            )
            # A file made is progress: the dataset's back-off starts afresh for the next.
            await tx.db.execute("UPDATE datasets SET attempts = 0 WHERE id = ?", (dataset_id,))
            tx.note("file_uploaded", dataset_id=dataset_id, side=side, file_id=file_id)

    async def uploads(self, dataset_id: int) -> dict[str, UploadRow]:
        rows = await self._all("SELECT * FROM uploads WHERE dataset_id = ?", (dataset_id,))
        return {r["side"]: UploadRow.from_row(r) for r in rows}

    # ------------------------------------------------------------------ jobs

    async def add_job(
        self,
        dataset_id: int,
        *,
        expected: str,
        job_id: str,
        status: str,
        model: str,
        metadata: Mapping[str, str] | None,
        provider: str = DEFAULT_PROFILE,
    ) -> bool:
        """Record the job a dataset became and mark the dataset submitted, together."""
        async with self.transaction() as tx:
            if not await tx.transition(
                dataset_id, expected, states.SUBMITTED, detail={"job_id": job_id}
            ):
                return False
            cursor = await tx.db.execute(
                "INSERT INTO jobs (dataset_id, job_id, status, model, metadata, created_at, "
                "updated_at, provider) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    dataset_id,
                    job_id,
                    status,
                    model,
                    json.dumps(dict(metadata)) if metadata else None,
                    tx.now,
                    tx.now,
                    provider,
                ),
            )
            assert cursor.lastrowid is not None
            await tx.log_change(
                "job", cursor.lastrowid, None, status, None, job_id=job_id, dataset_id=dataset_id
            )
        return True

    async def job(self, job_id: str) -> JobRow | None:
        rows = await self._all("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return JobRow.from_row(rows[0]) if rows else None

    async def jobs(
        self, statuses: Iterable[str] | None = None, *, limit: int = 10_000
    ) -> list[JobRow]:
        sql = "SELECT * FROM jobs"
        params: list[Any] = []
        if statuses is not None:
            names = list(statuses)
            sql += f" WHERE status IN {_marks(names)}"
            params.extend(names)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        return JobRow.from_rows(await self._all(sql, params))

    async def active_jobs(self) -> list[JobRow]:
        """Jobs not yet succeeded, failed or cancelled: the ones worth asking about."""
        final = sorted(states.JOB_FINAL)
        rows = await self._all(
            f"SELECT * FROM jobs WHERE status NOT IN {_marks(final)} ORDER BY id",  # noqa: S608
            final,
        )
        return JobRow.from_rows(rows)

    async def jobs_revised_since(self, revision: int) -> RevisedJobs:
        """The jobs written after ``revision``, the largest revision, and how many are
        unfinished, read together.

        Read under this connection's lock, outside any of its transactions, so an
        uncommitted write (which may yet roll back) is never taken as read; the
        largest revision is read before the rows, so a write another process
        commits in between is read now or next time, never missed.
        """
        final = sorted(states.JOB_FINAL)
        async with self._lock:
            latest = await self._all("SELECT coalesce(max(revision), 0) FROM jobs")
            unfinished = await self._all(
                f"SELECT count(*) FROM jobs WHERE status NOT IN {_marks(final)}",  # noqa: S608
                final,
            )
            revised = await self._all(
                "SELECT * FROM jobs WHERE revision > ? ORDER BY id", (revision,)
            )
        return RevisedJobs(int(latest[0][0]), JobRow.from_rows(revised), int(unfinished[0][0]))

    async def record_cycle(self, cycle: Cycle) -> list[str]:
        """Write what a tracker cycle learned in one transaction; the jobs that just finished."""
        async with self.transaction() as tx:
            return await apply_cycle(tx, cycle)

    async def known_events(self, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        known: set[str] = set()
        # In slices: SQLite refuses a statement with more variables than its limit.
        for first in range(0, len(wanted), 500):
            part = wanted[first : first + 500]
            rows = await self._all(
                f"SELECT event_id FROM job_events WHERE event_id IN {_marks(part)}",  # noqa: S608
                part,
            )
            known.update(r[0] for r in rows)
        return known

    async def unsettled_jobs(self) -> list[JobRow]:
        """Jobs recorded already ended (adopted finished, or found so after a crash) that no
        cycle has settled: their model, figures and result file are still to be read."""
        final = sorted(states.JOB_FINAL)
        rows = await self._all(
            f"SELECT * FROM jobs WHERE status IN {_marks(final)} AND finished_at IS NULL "  # noqa: S608
            "ORDER BY id",
            final,
        )
        return JobRow.from_rows(rows)

    async def jobs_awaiting_results(self) -> list[JobRow]:
        rows = await self._all(
            "SELECT * FROM jobs WHERE status = ? AND results_parsed_at IS NULL ORDER BY id",
            (states.JOB_SUCCEEDED,),
        )
        return JobRow.from_rows(rows)

    async def jobs_with_event_gap(self) -> list[JobRow]:
        """Jobs with events left to read: a cursor left by a partial read, or a job that
        finished without its events read since (a crash or a failed read right after the
        status that ended it was committed; no later status change would bring it back)."""
        final = sorted(states.JOB_FINAL)
        rows = await self._all(
            "SELECT * FROM jobs WHERE events_cursor IS NOT NULL "  # noqa: S608
            f"OR (status IN {_marks(final)} "
            "AND (details_at IS NULL OR details_at < coalesce(finished_at, 0))) ORDER BY id",
            final,
        )
        return JobRow.from_rows(rows)

    async def ended_jobs_with_event_gap(self) -> list[JobRow]:
        """The ended among ``jobs_with_event_gap``: a tracker cycle has just read every
        unfinished job's row, cursor included, and need not build 10,000 rows again."""
        final = sorted(states.JOB_FINAL)
        rows = await self._all(
            f"SELECT * FROM jobs WHERE status IN {_marks(final)} AND ("  # noqa: S608
            "events_cursor IS NOT NULL "
            "OR details_at IS NULL OR details_at < coalesce(finished_at, 0)) ORDER BY id",
            final,
        )
        return JobRow.from_rows(rows)

    async def jobs_awaiting_model(self) -> list[JobRow]:
        rows = await self._all(
            "SELECT * FROM jobs WHERE status = ? AND fine_tuned_model IS NOT NULL "
            "AND model_ready_at IS NULL ORDER BY id",
            (states.JOB_SUCCEEDED,),
        )
        return JobRow.from_rows(rows)

    async def adopt_job(
        self,
        job_id: str,
        status: str,
        model: str,
        metadata: Any,
        provider: str = DEFAULT_PROFILE,
    ) -> bool:
        """Follow a job ftd did not create; False if it is followed already."""
        async with self.transaction() as tx:
            if await tx.one("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)) is not None:
                return False
            cursor = await tx.execute(
                "INSERT INTO jobs (job_id, status, model, metadata, adopted, created_at, "
                "updated_at, provider) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
                (
                    job_id,
                    status,
                    model,
                    json.dumps(metadata) if metadata else None,
                    tx.now,
                    tx.now,
                    provider,
                ),
            )
            assert cursor.lastrowid is not None
            await tx.log_change(
                "job", cursor.lastrowid, None, status, {"adopted": True}, job_id=job_id
            )
        return True

    async def job_metrics(self, job_id: str) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT * FROM job_metrics WHERE job_id = ? ORDER BY step", (job_id,)
        )
        return [dict(r) for r in rows]

    async def job_events(self, job_id: str) -> list[dict[str, Any]]:
        rows = await self._all(
            f"SELECT * FROM job_events WHERE job_id = ? ORDER BY {EVENT_ORDER}",  # noqa: S608
            (job_id,),
        )
        return [dict(r) for r in rows]

    async def job_checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT * FROM job_checkpoints WHERE job_id = ? ORDER BY step", (job_id,)
        )
        return [dict(r) for r in rows]

    async def history(self, entity: str, entity_id: int) -> list[tuple[str | None, str, float]]:
        rows = await self._all(
            "SELECT from_state, to_state, at FROM transitions WHERE entity = ? AND entity_id = ? "
            "ORDER BY id",
            (entity, entity_id),
        )
        return [(r[0], r[1], r[2]) for r in rows]


def _marks(values: Sequence[object]) -> str:
    """``(?, ?, ?)`` for an IN clause over ``values``; the values travel as parameters."""
    return f"({', '.join('?' * len(values))})"


class _GroupEntry:
    """One grouped write: its work, whether a commit has settled it, and its error."""

    __slots__ = ("abandoned", "error", "settled", "work")

    def __init__(self, work: Callable[[Tx], Awaitable[None]]) -> None:
        self.work = work
        self.settled = False
        self.abandoned = False
        self.error: Exception | None = None


class Tx:
    """One open transaction: the connection, its timestamp, and the changes to log."""

    def __init__(self, db: aiosqlite.Connection, now: float) -> None:
        self.db = db
        self.now = now
        self.changes: list[dict[str, Any]] = []

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Cursor:
        return await self.db.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """One statement over many rows in a single call to the database's thread."""
        await self.db.executemany(sql, rows)

    async def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        async with self.db.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    def note(self, event: str, **data: Any) -> None:
        """A log line to emit once this transaction has committed."""
        self.changes.append({"event": event, **data})

    async def log_change(
        self,
        entity: str,
        entity_id: int,
        old: str | None,
        new: str,
        detail: Mapping[str, Any] | None,
        **context: Any,
    ) -> None:
        await self.log_changes(entity, [Change(entity_id, old, new, detail, context)])

    async def log_changes(self, entity: str, changes: Sequence[Change]) -> None:
        """``log_change`` for many rows, their history written in one statement."""
        await self.db.executemany(
            "INSERT INTO transitions (entity, entity_id, from_state, to_state, at, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    entity,
                    c.entity_id,
                    c.old,
                    c.new,
                    self.now,
                    json.dumps(c.detail) if c.detail else None,
                )
                for c in changes
            ],
        )
        key = "dataset_id" if entity == "dataset" else "id"
        for change in changes:
            await outbox.on_change(self, entity, change.entity_id, change.new)
            self.note(
                f"{entity}_state",
                **{key: change.entity_id},
                **change.context,
                state=change.new,
                previous=change.old,
                **(dict(change.detail) if change.detail else {}),
            )

    async def transition(
        self,
        dataset_id: int,
        expected: str | Iterable[str],
        new_state: str,
        *,
        detail: Mapping[str, Any] | None = None,
        moves: Mapping[str, tuple[str, str]] | None = None,
        splits: Iterable[SplitRow] = (),
        **fields: Any,
    ) -> bool:
        """Compare-and-set a dataset's state; fields, moves and splits commit with it.

        ``moves`` maps a file role to (from, to): the move is recorded here and
        carried out by the caller after the commit.
        """
        allowed = [expected] if isinstance(expected, str) else list(expected)
        unknown = fields.keys() - _DATASET_COLUMNS
        if unknown:
            raise ValueError(f"not dataset columns: {', '.join(sorted(unknown))}")
        row = await self.one("SELECT state, name FROM datasets WHERE id = ?", (dataset_id,))
        if row is None or row[0] not in allowed:
            return False
        sets = ["state = ?", "updated_at = ?"]
        params: list[Any] = [new_state, self.now]
        for key, value in fields.items():
            sets.append(f"{key} = ?")
            params.append(
                json.dumps(value) if key in _JSON_COLUMNS and value is not None else value
            )
        await self.db.execute(
            f"UPDATE datasets SET {', '.join(sets)} WHERE id = ?",  # noqa: S608 - column names are checked above
            [*params, dataset_id],
        )
        for role, (source, target) in (moves or {}).items():
            await self.db.execute(
                "INSERT INTO dataset_files (dataset_id, role, path, moving_from) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (dataset_id, role) "
                "DO UPDATE SET path = excluded.path, moving_from = excluded.moving_from",
                (dataset_id, role, target, source),
            )
        for split in splits:
            await self.db.execute(
                "INSERT OR REPLACE INTO splits (dataset_id, side, path, examples, sha256) "
                "VALUES (?, ?, ?, ?, ?)",
                (dataset_id, split.side, split.path, split.examples, split.sha256),
            )
        await self.log_change("dataset", dataset_id, row[0], new_state, detail, name=row[1])
        return True
