"""Moving a user's files through the drop folder without ever losing or overwriting one.

A move is recorded in the database before it is made (``dataset_files``
holds where the file goes and where it was), and made without replacing
anything: ``link`` then ``unlink``, which fails if the target exists. If ftd
dies half way, the next start sees the record and finishes the move: the
target exists, the source exists, or both name the same inode.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ftd.intake import MAX_SIDECAR_BYTES
from ftd.logs import get_logger

if TYPE_CHECKING:
    from ftd.store import FileRow, Store

log = get_logger("ftd.daemon.files")
HASH_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


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


def move_file(source: Path, target: Path) -> None:
    """Move without replacing: fails if ``target`` exists. Same file system only."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError as exc:
        raise MoveError(errno.EEXIST, f"cannot move {source} to {target}: target exists") from exc
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise MoveError(exc.errno, f"cannot move {source} to {target}: {exc.strerror}") from exc
        # A file system without hard links: rename, having checked the name is free.
        if target.exists():
            raise MoveError(
                errno.EEXIST, f"cannot move {source} to {target}: target exists"
            ) from exc
        os.rename(source, target)
        return
    os.unlink(source)


def settle_move(row: FileRow) -> str:
    """Finish a recorded move; says how it ended: moved, done, or missing."""
    source = Path(row.moving_from or row.path)
    target = Path(row.path)
    if target.exists():
        if source != target and source.exists() and os.path.samefile(source, target):
            os.unlink(source)  # the link was made, the unlink was not
        return "done"
    if source.exists():
        move_file(source, target)
        return "moved"
    return "missing"


async def settle_moves(store: Store, dataset_id: int | None = None) -> list[FileRow]:
    """Carry out recorded moves (all, or one dataset's); returns those whose file is gone."""
    missing: list[FileRow] = []
    for row in await store.pending_moves():
        if dataset_id is not None and row.dataset_id != dataset_id:
            continue
        outcome = await anyio.to_thread.run_sync(settle_move, row)
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


def write_json(path: Path, data: Any) -> None:
    """Write a report atomically: a reader sees the old file or the whole new one."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def unfit_file(files: dict[str, FileRow]) -> tuple[str, str] | None:
    """(kind, message) for the first of a dataset's files that ftd will not read, if any.

    The sidecar and the files it names may be anything a user can make; only
    regular files are read (never a link's target, never a FIFO), and a
    sidecar only up to its size limit.
    """
    for role, item in files.items():
        path = Path(item.path)
        kind = "bad_sidecar" if role == "sidecar" else f"bad_{role}_file"
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue  # the validator says so, with the path
        except OSError as exc:
            return kind, f"{path.name}: cannot look at it: {exc.strerror or exc}"
        what = _file_kind(info.st_mode)
        if what is not None:
            return (
                kind,
                f"{path.name} is {what}; ftd reads only regular files: drop the file itself",
            )
        if role == "sidecar" and info.st_size > MAX_SIDECAR_BYTES:
            return kind, (
                f"{path.name} is {info.st_size:,} bytes; a sidecar holds at most "
                f"{MAX_SIDECAR_BYTES:,}"
            )
    return None


def _file_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "not a regular file"
