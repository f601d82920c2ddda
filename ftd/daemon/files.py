"""Moving a user's files through the drop folder without ever losing or overwriting one.

A move is recorded in the database before it is made (``dataset_files``
holds where the file goes, where it was, and which file it is: device and
inode as ftd took it), and made without replacing anything: ``link`` then
``unlink``, which fails if the target exists. Both ends are reached through
folders ftd opened itself from the drop folder's root, never through a link
(see nofollow.py). If ftd dies half way, the next start sees the record and
finishes the move; a file found at either end counts only if it is the one
recorded, so another dataset's file of the same name is never taken as done.
"""

from __future__ import annotations

import errno
import json
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ftd.daemon.nofollow import (
    WALK_FAILURES,
    identity,
    link_no_replace,
    lstat_at,
    parent_of,
    write_new,
)
from ftd.daemon.readers import note_unshared
from ftd.logs import get_logger

if TYPE_CHECKING:
    from ftd.store import FileRow, Store

log = get_logger("ftd.daemon.files")


def free_name(directory: Path, name: str, taken: set[str] | None = None) -> Path:
    """``directory/name``, or ``stem-2.ext``, ``stem-3.ext``… if that is taken already."""
    busy = taken or set()
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    candidate = directory / name
    number = 1
    while candidate.exists() or candidate.is_symlink() or candidate.name in busy:
        number += 1
        candidate = directory / f"{stem}-{number}{dot}{ext}"
    return candidate


class MoveError(OSError):
    """A file could not be moved; the message names both ends."""


def _root_of(*paths: Path) -> Path:
    """The folder both ends lie under, when the caller names none."""
    return Path(os.path.commonpath([os.path.dirname(p) for p in paths]))


def move_file(source: Path, target: Path, *, root: Path | None = None) -> None:
    """Move without replacing: fails if ``target`` exists. Same file system only.

    Both folders are reached from ``root`` without following a link; the
    target's folders are made if missing.
    """
    top = root or _root_of(source, target)
    try:
        with (
            parent_of(top, source) as (src_fd, src_name),
            parent_of(top, target, create=True) as (dst_fd, dst_name),
        ):
            link_no_replace(src_fd, src_name, dst_fd, dst_name)
            os.unlink(src_name, dir_fd=src_fd)
    except FileExistsError as exc:
        raise MoveError(errno.EEXIST, f"cannot move {source} to {target}: target exists") from exc
    except OSError as exc:
        raise MoveError(exc.errno, f"cannot move {source} to {target}: {exc.strerror}") from exc


def _look(root: Path, path: Path) -> os.stat_result | None:
    """What is at ``path`` reached from ``root`` without a link; None if nothing is, or
    the way there passes through a link."""
    try:
        with parent_of(root, path) as (fd, name):
            return lstat_at(fd, name)
    except OSError as exc:
        if exc.errno in WALK_FAILURES:
            return None
        raise


def _through_link(root: Path, path: Path) -> bool:
    """Whether the way from ``root`` to ``path``'s folder passes through a link (or a file
    where a folder should be): such a path is never followed."""
    try:
        with parent_of(root, path):
            return False
    except OSError as exc:
        return exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)


def settle_move(row: FileRow, *, root: Path | None = None) -> str:
    """Finish a recorded move; says how it ended: moved, done, missing, or refused (the
    way to the file passes through a link, which is never followed).

    With the file's identity on record, a file at either end counts only if it
    is that file: another one under the target name is not this move done,
    and another one under the source name (a new drop) is not moved.
    """
    source = Path(row.moving_from or row.path)
    target = Path(row.path)
    top = root or _root_of(source, target)
    at_target = _look(top, target)
    at_source = _look(top, source) if source != target else None
    wanted = row.identity

    def is_it(info: os.stat_result | None) -> bool:
        return info is not None and (wanted is None or identity(info) == wanted)

    if at_target is not None:
        if at_source is not None and identity(at_source) == identity(at_target):
            with parent_of(top, source) as (fd, name):
                os.unlink(name, dir_fd=fd)  # the link was made, the unlink was not
            return "done"
        if is_it(at_target):
            return "done"
        if is_it(at_source):
            raise MoveError(errno.EEXIST, f"cannot move {source} to {target}: target exists")
        return "missing"
    if is_it(at_source):
        try:
            move_file(source, target, root=top)
        except MoveError as exc:
            if exc.errno in WALK_FAILURES:
                # gone, or the way there became a link, since the look
                return "refused" if _through_link(top, source) else "missing"
            raise
        return "moved"
    return "refused" if _through_link(top, source) else "missing"


def _refusal(row: FileRow, outcome: str) -> str:
    source = row.moving_from or row.path
    if outcome == "refused":
        return (
            f"{source} was not moved with its dataset: the way to it passes through a "
            "symbolic link, which ftd never follows; it was left where it is, untouched"
        )
    return (
        f"{source} was not moved with its dataset: it is no longer the file ftd took "
        "(removed, or replaced by another file or a link); whatever is there was left alone"
    )


async def settle_moves(
    store: Store, dataset_id: int | None = None, *, root: Path | None = None
) -> list[FileRow]:
    """Carry out recorded moves (all, or one dataset's); returns the datasets' moves whose
    file is gone. A sidecar's or companion's move that cannot be made is refused instead.

    ``root`` is the drop folder: every end of every move lies under it.
    """
    missing: list[FileRow] = []
    for row in await store.pending_moves():
        if dataset_id is not None and row.dataset_id != dataset_id:
            continue
        outcome = await anyio.to_thread.run_sync(partial(settle_move, row, root=root))
        if row.role != "dataset" and outcome in ("missing", "refused"):
            # A sidecar's or companion's move that cannot be made is settled, not retried
            # for ever: the file stays where it is, and the dataset's report says why.
            reason = _refusal(row, outcome)
            log.warning(
                "file_move_refused", dataset_id=row.dataset_id, role=row.role, reason=reason
            )
            await store.refuse_move(row.dataset_id, row.role, reason)
            continue
        if outcome == "refused":
            outcome = "missing"  # the dataset itself: nothing ftd may take
        if outcome == "missing":
            log.warning(
                "file_missing",
                dataset_id=row.dataset_id,
                role=row.role,
                path=row.moving_from,
                target=row.path,
            )
            missing.append(row)
            continue
        await store.finish_move(row.dataset_id, row.role)
        if outcome == "moved":
            log.info(
                "file_moved",
                dataset_id=row.dataset_id,
                role=row.role,
                source=row.moving_from,
                target=row.path,
            )
    return missing


def write_json(
    path: Path, data: Any, *, root: Path | None = None, reader_uid: int | None = None
) -> None:
    """Write a report atomically: a reader sees the old file or the whole new one.

    Made under a fresh name with O_EXCL and given its name only then, in a
    folder reached from ``root`` without links; readable by ftd and
    ``reader_uid`` (the dropper) alone.
    """
    body = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    with parent_of(root or path.parent.parent, path) as (fd, name):
        shared = write_new(fd, name, body, reader_uid=reader_uid)
    if not shared:
        note_unshared(path.parent)
