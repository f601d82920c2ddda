"""Following jobs to the end: each unfinished job is asked about every ``poll_seconds``.

Jobs keep running at the provider while ftd is down; at start the unfinished
ones are read from the database and followed again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from ftd.errors import RemoteError
from ftd.logs import get_logger
from ftd.store import states

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import TaskStatus

    from ftd.remote import Remote
    from ftd.store import JobRow, Store

log = get_logger("ftd.tracker")
CONCURRENT_READS = 8


class Tracker:
    def __init__(
        self,
        store: Store,
        remote: Remote,
        *,
        poll_seconds: float,
        on_finished: Callable[[], Awaitable[None]],
    ) -> None:
        self._on_finished = on_finished
        self._store = store
        self._remote = remote
        self._poll = poll_seconds
        self._wakeup = anyio.Event()
        self._limiter = anyio.CapacityLimiter(CONCURRENT_READS)

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self._wakeup = anyio.Event()
            jobs = await self._store.active_jobs()
            async with anyio.create_task_group() as tg:
                for job in jobs:
                    tg.start_soon(self._refresh, job)
            with anyio.move_on_after(self._poll):
                await self._wakeup.wait()

    async def _refresh(self, row: JobRow) -> None:
        async with self._limiter:
            try:
                job = await self._remote.job(row.job_id)
            except RemoteError:
                return  # logged by the client; asked again at the next round
        error = job.error
        changed = await self._store.update_job(
            row.job_id,
            job.status,
            fine_tuned_model=job.fine_tuned_model,
            trained_tokens=job.trained_tokens,
            estimated_finish=job.estimated_finish,
            error_code=error.code if error else None,
            error_message=error.message if error else None,
            error_param=error.param if error else None,
        )
        if changed and job.status in states.JOB_FINAL:
            await self._on_finished()
