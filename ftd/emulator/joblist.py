"""Which jobs a list page holds, found without walking every job.

A client that follows 10,000 jobs reads their list a hundred at a time,
each page after the last one's final id, filtered by one metadata pair: a
walk over every job per page made a cycle of 100 pages cost a million
comparisons. Here each job has its place in creation order, and each
metadata pair the ascending places of the jobs that carry it, so a page is
a bisection and a walk back over at most the jobs it shows (plus those that
fail a second filter pair). A job's metadata never changes after creation,
nor does its place, and jobs are never removed: the index only grows.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


class JobListIndex:
    """Places of jobs in creation order, by id and by metadata pair."""

    def __init__(self) -> None:
        self._ids: list[str] = []  # creation order, oldest first
        self._place: dict[str, int] = {}
        self._metadata: list[Mapping[str, str]] = []  # by place
        self._by_pair: dict[tuple[str, str], list[int]] = {}
        self._bare: list[int] = []  # jobs without metadata

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, job_id: str, metadata: Mapping[str, str] | None) -> None:
        """A new job, newer than every one added before; a known id is left where it is."""
        if job_id in self._place:
            return
        place = len(self._ids)
        self._ids.append(job_id)
        self._place[job_id] = place
        self._metadata.append(dict(metadata or {}))
        if not metadata:
            self._bare.append(place)
        for pair in (metadata or {}).items():
            self._by_pair.setdefault(pair, []).append(place)

    def page(
        self,
        after: str | None,
        limit: int,
        metadata: Mapping[str, str] | None = None,
        *,
        without_metadata: bool = False,
    ) -> tuple[list[str], bool]:
        """Ids of one page, newest first, older than ``after``; and whether more follow.

        An ``after`` that names no job gives an empty page, as the real service
        answers an unknown cursor.
        """
        if after is None:
            end = len(self._ids)
        elif after in self._place:
            end = self._place[after]
        else:
            return [], False
        pairs = list((metadata or {}).items())
        places: Sequence[int]
        if without_metadata:
            places = self._bare
        elif pairs:
            # Walk the rarest pair's jobs; the other pairs are checked job by job.
            places = min((self._by_pair.get(pair, []) for pair in pairs), key=len)
        else:
            places = range(len(self._ids))
        found: list[str] = []
        index = bisect.bisect_left(places, end) - 1
        while index >= 0 and len(found) <= limit:
            place = places[index]
            carried = self._metadata[place]
            if all(carried.get(key) == value for key, value in pairs):
                found.append(self._ids[place])
            index -= 1
        return found[:limit], len(found) > limit
