"""Taking a complete file out of ``incoming/``: copy it, record it, move it aside.

The file is opened once and copied into ftd's own folder (snapshot.py), and
everything after works from that copy. The row is written next, with the
moves it plans (the dataset, its sidecar and the files the sidecar names,
each with its device and inode), and the moves are made after: a crash in
between leaves a record that the next start finishes. Each dataset gets its
own folder under ``processing/``, so names never clash and a sidecar's
relative paths still hold there.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from ftd.daemon import snapshot
from ftd.daemon.files import settle_moves
from ftd.daemon.repeats import Repeats
from ftd.intake import SIDECAR_SUFFIX, sidecar_companions
from ftd.logs import get_logger
from ftd.store import states

if TYPE_CHECKING:
    from collections.abc import Callable

    from ftd.config.paths import DropFolder
    from ftd.intake import Seen
    from ftd.store import Store

log = get_logger("ftd.daemon.claim")


def plan_moves(incoming: Path, name: str, work: Path) -> dict[str, tuple[str, str]]:
    """role -> (from, to) for a dataset, its sidecar and the files the sidecar names."""
    moves = {"dataset": (str(incoming / name), str(work / name))}
    sidecar = incoming / (Path(name).stem + SIDECAR_SUFFIX)
    if not os.path.lexists(sidecar):
        return moves
    # Whatever they are, the sidecar and the files it names travel with their
    # dataset; one that is not a regular file (a link, a FIFO) is never read,
    # and rejects the dataset with that reason when it is prepared.
    moves["sidecar"] = (str(sidecar), str(work / sidecar.name))
    root = os.path.realpath(incoming)
    for role, relative in sidecar_companions(str(sidecar)).items():
        companion = incoming / relative
        folder = os.path.realpath(companion.parent)
        inside = folder == root or folder.startswith(root + os.sep)
        if inside and companion.name not in ("", "..") and os.path.lexists(companion):
            moves[role] = (str(companion), str(work / relative))
    return moves


async def settle_claims(
    store: Store, dataset_id: int | None = None, *, root: Path | None = None
) -> set[int]:
    """Finish recorded moves (all, or one dataset's); the datasets whose file vanished first.

    Such a dataset, still ``detected``, becomes ``missing``: there is nothing to take.
    """
    missing: set[int] = set()
    for item in await settle_moves(store, dataset_id, root=root):
        if item.role == "dataset" and await store.transition(
            item.dataset_id,
            states.DETECTED,
            states.MISSING,
            error="the file vanished before ftd took it",
        ):
            missing.add(item.dataset_id)
    return missing


class Intake:
    """The watcher's receiver: one file at a time, in the order they became complete."""

    def __init__(
        self,
        store: Store,
        drop: DropFolder,
        *,
        max_file_bytes: int,
        on_claimed: Callable[[], None],
        snapshots: Path | None = None,
    ) -> None:
        self._store = store
        self._drop = drop
        # ftd's private copies of what it takes (0700); beside the drop folder by default.
        self._snapshots = snapshots or drop.root.parent / "snapshots"
        self._max_file_bytes = max_file_bytes
        self._on_claimed = on_claimed
        self._repeats = Repeats()

    async def take(self, seen: Seen) -> None:
        """Record the file and move it to ``processing/``; any failure leaves it to a later look.

        A full disk, a read-only drop folder or a locked database leaves the file
        where it is, with an ``incoming_claim_failed`` line: the watcher offers
        it again at its next look, and a claim already recorded is finished
        then rather than recorded twice. The same failure again is logged at
        debug level only, so a disk full for hours does not flood the journal;
        ``incoming_claim_recovered`` says when it went through after all.
        """
        try:
            claimed = await self._claim(seen)
        except (OSError, sqlite3.Error) as exc:
            self._failed(seen.name, str(exc))
            return
        failures = self._repeats.ended(seen.name)
        if claimed:
            if failures:
                log.info("incoming_claim_recovered", file=seen.name, failures=failures)
            self._on_claimed()

    async def _claim(self, seen: Seen) -> bool:
        """Whether the file was taken (False: it changed, or went, before it could be)."""
        source = self._drop.incoming / seen.name
        dataset_id = await self._claimed_before(source)
        finishing = dataset_id is not None
        if dataset_id is None:
            dataset_id = await self._record(seen, source)
            if dataset_id is None:
                return False
        missing = await settle_moves(self._store, dataset_id, root=self._drop.root)
        if any(item.role == "dataset" for item in missing):
            await self._store.transition(
                dataset_id,
                states.DETECTED,
                states.MISSING,
                error="the file vanished before ftd took it",
            )
            return False
        if finishing:
            await self._store.retry_now([states.DETECTED])  # it waited: due at once
        return True

    def _failed(self, name: str, error: str) -> None:
        news, failures = self._repeats.failed(name, error)
        (log.error if news else log.debug)(
            "incoming_claim_failed",
            file=name,
            error=error,
            failures=failures,
            retry="at the next look at incoming/",
        )

    async def _claimed_before(self, source: Path) -> int | None:
        """The dataset whose recorded move out of ``incoming/`` starts at ``source``, if any."""
        for move in await self._store.pending_moves():
            if move.role == "dataset" and move.moving_from == str(source):
                return move.dataset_id
        return None

    async def _record(self, seen: Seen, source: Path) -> int | None:
        """Copy the file and record it with its planned moves; None if it changed or went.

        A file that cannot be read raises, like a database that cannot be written:
        ``take`` says so once and the next look tries again."""
        tag = secrets.token_hex(8)
        folder = self._snapshots / tag
        try:
            taken = await anyio.to_thread.run_sync(
                lambda: snapshot.take(
                    self._drop,
                    seen,
                    folder,
                    self._drop.processing / tag,
                    max_bytes=self._max_file_bytes,
                )
            )
        except FileNotFoundError:
            log.info("incoming_vanished", file=seen.name, reason="removed before ftd took it")
            return None
        except snapshot.Changed as exc:
            log.info("incoming_changed", file=seen.name, reason=str(exc))  # looked at again
            return None
        try:
            row = await self._store.add_dataset(
                sha256=taken.sha256,
                name=seen.name,
                path=str(source),
                size_bytes=seen.size,
                moves=taken.moves,
                tag=tag,
                owner_uid=taken.owner_uid,
                identities=taken.identities,
            )
        except BaseException:
            await anyio.to_thread.run_sync(snapshot.discard, folder)
            raise
        return row.id
