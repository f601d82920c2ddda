"""A batch evaluation's items still to do, read again from the test file for each pass.

A batch evaluation goes over its items several times (the answers' request
files, the judges' request files, the commit), and a large test file's
items held whole would take more memory than everything else the daemon
holds. So the items are never kept: each pass reads the file again, a chunk
at a time, skipping the items already committed and stopping after the
last one the spend cap admitted.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

import anyio

from ftd.evaluation.items import ItemsError, iter_items

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from ftd.evaluation.items import Item


@dataclass(frozen=True, slots=True)
class ItemSource:
    """The items of ``path`` (as ``read_items`` reads them) not in ``done``, at most ``limit``."""

    path: Path
    max_items: int | None
    reinforcement: bool
    done: frozenset[int]
    total: int
    limit: int | None = None

    @property
    def count(self) -> int:
        """How many items the passes give."""
        left = self.total - sum(1 for index in self.done if index < self.total)
        return left if self.limit is None else min(left, self.limit)

    def first(self, count: int) -> ItemSource:
        """The same items, only the first ``count`` of them."""
        return replace(self, limit=count if self.limit is None else min(count, self.limit))

    def _todo(self) -> Iterator[Item]:
        found = iter_items(self.path, max_items=self.max_items, reinforcement=self.reinforcement)
        todo = (item for item in found if item.index not in self.done)
        return todo if self.limit is None else itertools.islice(todo, self.limit)

    async def chunks(self, size: int) -> AsyncIterator[list[Item]]:
        """The items in order, ``size`` at a time, each chunk read in a worker thread."""
        todo = self._todo()
        while chunk := await anyio.to_thread.run_sync(partial(_take, todo, size)):
            yield chunk


def _take(todo: Iterator[Item], size: int) -> list[Item]:
    return list(itertools.islice(todo, size))


def count_items(path: Path, *, max_items: int | None, reinforcement: bool) -> int:
    """The file's item count, every line checked as ``read_items`` checks it (ItemsError)."""
    count = sum(1 for _ in iter_items(path, max_items=max_items, reinforcement=reinforcement))
    if not count:
        raise ItemsError(str(path), None, "holds no test items")
    return count
