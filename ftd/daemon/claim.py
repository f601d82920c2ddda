"""Taking a complete file out of ``incoming/``: hash it, record it, move it aside.

The row is written first, with the moves it plans (the dataset, its sidecar
and the files the sidecar names), and the moves are made after: a crash in
between leaves a record that the next start finishes. Each dataset gets its
own folder under ``processing/``, so names never clash and a sidecar's
relative paths still hold there.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from ftd.daemon.files import settle_moves, sha256_file
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
    if not sidecar.is_file() or sidecar.is_symlink():
        return moves
    moves["sidecar"] = (str(sidecar), str(work / sidecar.name))
    root = os.path.realpath(incoming) + os.sep
    for role, relative in sidecar_companions(str(sidecar)).items():
        companion = incoming / relative
        inside = os.path.realpath(companion).startswith(root)
        if inside and companion.is_file() and not companion.is_symlink():
            moves[role] = (str(companion), str(work / relative))
    return moves


async def settle_claims(store: Store, dataset_id: int | None = None) -> set[int]:
    """Finish recorded moves (all, or one dataset's); the datasets whose file vanished first.

    Such a dataset, still ``detected``, becomes ``missing``: there is nothing to take.
    """
    missing: set[int] = set()
    for item in await settle_moves(store, dataset_id):
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
    ) -> None:
        self._store = store
        self._drop = drop
        self._max_file_bytes = max_file_bytes
        self._on_claimed = on_claimed

    async def take(self, seen: Seen) -> None:
        source = self._drop.incoming / seen.name
        try:
            digest = (
                await anyio.to_thread.run_sync(sha256_file, source)
                if seen.size <= self._max_file_bytes
                else ""  # too large to read; rejected by size when prepared
            )
            after = source.stat(follow_symlinks=False)
        except FileNotFoundError:
            return  # gone while being read: nothing to take
        except OSError as exc:
            log.error("incoming_unreadable", file=seen.name, error=str(exc))
            return
        if (after.st_size, after.st_mtime_ns, after.st_ino) != (
            seen.size,
            seen.mtime_ns,
            seen.inode,
        ):
            log.info("incoming_changed", file=seen.name)  # looked at again once stable
            return
        tag = secrets.token_hex(8)
        moves = await anyio.to_thread.run_sync(
            plan_moves, self._drop.incoming, seen.name, self._drop.processing / tag
        )
        row = await self._store.add_dataset(
            sha256=digest,
            name=seen.name,
            path=str(source),
            size_bytes=seen.size,
            moves=moves,
            tag=tag,
        )
        missing = await settle_moves(self._store, row.id)
        if any(item.role == "dataset" for item in missing):
            await self._store.transition(
                row.id,
                states.DETECTED,
                states.MISSING,
                error="the file vanished before ftd took it",
            )
            return
        self._on_claimed()
