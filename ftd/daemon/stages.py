"""A pipeline stage: a loop that claims datasets in its input states and handles each once.

The database is the queue. A stage reads the rows it may act on, starts a
task per row up to its limit, and sleeps until woken (a new row, a finished
task) or until the earliest postponed row falls due. Wake-ups only save time:
the loop rereads the table, so a lost wake-up delays work, never loses it.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from typing import TYPE_CHECKING

import anyio

from ftd.daemon.repeats import Repeats
from ftd.logs import get_logger
from ftd.store.db import refused_by_machine

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from anyio.abc import TaskStatus

    from ftd.store import DatasetRow, Store

log = get_logger("ftd.daemon.stages")
BUG_RETRY_SECONDS = 300.0
STORE_TROUBLE_SECONDS = 10.0


class Stage:
    def __init__(
        self,
        name: str,
        store: Store,
        wanted: Iterable[str],
        handle: Callable[[DatasetRow], Awaitable[None]],
        *,
        limit: int,
        idle_seconds: float = 30.0,
    ) -> None:
        self.name = name
        self._store = store
        self._states = tuple(wanted)
        self._handle = handle
        self._limit = limit
        self._idle = idle_seconds
        self._wakeup = anyio.Event()
        self._busy: set[int] = set()
        self._blocked = Repeats()  # datasets held back by a full disk, a locked database...

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            task_status.started()
            while True:
                # A new Event before reading: a wake-up during the read is kept.
                self._wakeup = anyio.Event()
                room = self._limit - len(self._busy)
                if room > 0:
                    rows = await self._store.datasets(
                        self._states, due=True, limit=room + len(self._busy)
                    )
                    for row in rows:
                        if len(self._busy) >= self._limit:
                            break
                        if row.id not in self._busy:
                            self._busy.add(row.id)
                            tg.start_soon(self._one, row)
                with anyio.move_on_after(await self._sleep_for()):
                    await self._wakeup.wait()

    async def _sleep_for(self) -> float:
        due = await self._store.next_attempt(self._states)
        now = time.time()
        if due is not None and due > now:
            return min(self._idle, due - now + 0.01)
        return self._idle

    async def _one(self, row: DatasetRow) -> None:
        try:
            await self._handle(row)
            blocked = self._blocked.ended(row.id)
            if blocked:
                log.info("stage_unblocked", stage=self.name, dataset_id=row.id, failures=blocked)
        except Exception as exc:
            if _environmental(exc):
                # A locked database, a full disk, a read-only file system: not this
                # dataset's fault, and over once the condition ends. Hold the row a
                # while (the database may take no note of it now), then try again;
                # said at error level when it starts, at debug level while it lasts.
                error = f"{type(exc).__name__}: {exc}"
                news, failures = self._blocked.failed(row.id, error)
                (log.error if news else log.debug)(
                    "stage_blocked",
                    stage=self.name,
                    dataset_id=row.id,
                    error=error,
                    failures=failures,
                    retry_in=STORE_TROUBLE_SECONDS,
                )
                await anyio.sleep(STORE_TROUBLE_SECONDS)
                return
            # A bug, not a provider's answer: keep the daemon and the other
            # datasets going, and come back to this one later.
            log.exception("stage_error", stage=self.name, dataset_id=row.id)
            try:
                await self._store.postpone(
                    row.id, time.time() + BUG_RETRY_SECONDS, f"{type(exc).__name__}: {exc}"
                )
            except sqlite3.Error as store_exc:
                log.error("stage_postpone_failed", stage=self.name, error=str(store_exc))
                await anyio.sleep(STORE_TROUBLE_SECONDS)
        finally:
            self._busy.discard(row.id)
            self.wake()


def _environmental(exc: BaseException) -> bool:
    """Whether an error comes from the machine's state rather than from ftd or the dataset."""
    if isinstance(exc, sqlite3.Error):
        return refused_by_machine(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
