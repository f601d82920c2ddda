"""The unfinished jobs kept in memory, renewed from the rows written since the last read.

The tracker looks at every unfinished job each cycle. At 10,000 jobs reading
and building every row each cycle was a tenth of its CPU, though a cycle
writes only a few hundred of them. Every write to a job's row renews its
revision (migration 16, by trigger, whoever writes: this process or
another), so each read asks only for the rows revised since the last one. A
count of unfinished rows that differs from what is kept (a row gone, which
no revision tells of) has every row read again.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

from ftd.logs import get_logger
from ftd.store import states

if TYPE_CHECKING:
    from ftd.store.db import Store
    from ftd.store.rows import JobRow

log = get_logger("ftd.store")
_BY_ID = operator.attrgetter("id")


class FollowedJobs:
    """The rows of the jobs not yet succeeded, failed or cancelled, as the store holds them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rows: dict[str, JobRow] = {}
        self._revision = -1  # nothing read yet: every row is newer

    async def rows(self) -> list[JobRow]:
        """Every unfinished job's row as committed now, by id."""
        unfinished = await self._renew()
        if len(self._rows) != unfinished:
            log.info("followed_jobs_reread", kept=len(self._rows), unfinished=unfinished)
            self._rows.clear()
            self._revision = -1
            await self._renew()
        return sorted(self._rows.values(), key=_BY_ID)

    async def _renew(self) -> int:
        """Take in the rows revised since the last read; how many jobs are unfinished."""
        read = await self._store.jobs_revised_since(self._revision)
        for row in read.rows:
            if row.status in states.JOB_FINAL:
                self._rows.pop(row.job_id, None)
            else:
                self._rows[row.job_id] = row
        self._revision = read.latest
        return read.unfinished
