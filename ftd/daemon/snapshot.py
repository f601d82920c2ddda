"""ftd's own copy of what a producer dropped, taken once through one open descriptor.

A producer keeps the inode of the file it dropped: moving it to ``processing/``
does not stop it from appending lines, or swapping a FIFO in under the same
name. So each file is opened once (no link followed, not waiting for a FIFO's
writer), checked to be a regular file of the dropper's, and copied through
that descriptor into a folder of ftd's own (``<state_dir>/snapshots/TAG/``,
mode 0700). The hash, the validation, the split and the upload all read that
copy: nothing done to the dropped file after the claim changes what is trained.

Each dataset belongs to one producer, the owner of its file. A sidecar of
another owner is not the dataset's (it is left where it is); a file the
sidecar names must be the same owner's, or the dataset is rejected for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import anyio

from ftd.daemon.nofollow import (
    NEW_FILE_FLAGS,
    READ_FLAGS,
    WALK_FAILURES,
    file_kind,
    identity,
    lstat_at,
    parent_of,
    walk,
)
from ftd.intake import MAX_SIDECAR_BYTES, SIDECAR_SUFFIX, sidecar_companions
from ftd.logs import get_logger

if TYPE_CHECKING:
    from ftd.config.paths import DropFolder
    from ftd.intake import Seen
    from ftd.store import FileRow, Store

log = get_logger("ftd.daemon.snapshot")
MANIFEST = "taken.json"
COPY_BLOCK = 1 << 20


class Changed(Exception):
    """The file changed, or went, while it was being taken: look again once it is stable."""


@dataclass
class Taken:
    """What ftd took of one dataset: its copies and what it found unfit to read."""

    sha256: str
    owner_uid: int
    copies: dict[str, str] = field(default_factory=dict)  # role -> path of ftd's copy
    unfit: dict[str, tuple[str, str]] = field(default_factory=dict)  # role -> (kind, message)
    names: dict[str, str] = field(default_factory=dict)  # role -> name as the dropper knows it
    moves: dict[str, tuple[str, str]] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "owner_uid": self.owner_uid,
            "copies": self.copies,
            "unfit": {role: list(found) for role, found in self.unfit.items()},
            "names": self.names,
        }


def _kind(role: str) -> str:
    return "bad_sidecar" if role == "sidecar" else f"bad_{role}_file"


def _copy(fd: int, info: os.stat_result, target: Path) -> str:
    """Copy exactly the ``st_size`` bytes of an open file into a new private file; its hash."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    copied = 0
    out = os.open(target, NEW_FILE_FLAGS, 0o600)
    with os.fdopen(out, "wb") as handle:
        while copied <= info.st_size:
            block = os.read(fd, min(COPY_BLOCK, info.st_size + 1 - copied))
            if not block:
                break
            digest.update(block)
            handle.write(block)
            copied += len(block)
        handle.flush()
        os.fsync(handle.fileno())
    if copied != info.st_size:
        raise Changed(f"{copied} bytes read of {info.st_size}")
    return digest.hexdigest()


def _take_one(
    taken: Taken,
    dir_fd: int,
    name: str,
    role: str,
    shown: str,
    folder: Path,
    *,
    limit: int | None,
    wanted: str | None = None,
) -> os.stat_result | None:
    """Open ``name`` once and copy it; records why not in ``taken.unfit``. Its stat, or
    None when nothing (or another file than ``wanted``) is there."""
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        info = lstat_at(dir_fd, name)
        if info is None:
            return None
        kind = file_kind(info.st_mode) or f"unreadable ({exc.strerror})"
        taken.unfit[role] = (
            _kind(role),
            f"{shown} is {kind}; ftd reads only regular files: drop the file itself",
        )
        return info
    try:
        info = os.fstat(fd)
        if wanted is not None and identity(info) != wanted:
            return None
        what = file_kind(info.st_mode)
        if what is not None:
            taken.unfit[role] = (
                _kind(role),
                f"{shown} is {what}; ftd reads only regular files: drop the file itself",
            )
            return info
        if info.st_uid != taken.owner_uid:
            taken.unfit[role] = (
                _kind(role),
                f"{shown} belongs to another user; a sidecar may name only files of the "
                "one who dropped the dataset",
            )
            return info
        if role == "sidecar" and info.st_size > MAX_SIDECAR_BYTES:
            taken.unfit[role] = (
                _kind(role),
                f"{shown} is {info.st_size:,} bytes; a sidecar holds at most {MAX_SIDECAR_BYTES:,}",
            )
            return info
        if limit is not None and info.st_size > limit:
            return info  # too large to read; rejected by size when prepared
        copy = folder / role / PurePosixPath(shown).name
        digest = _copy(fd, info, copy)
        taken.copies[role] = str(copy)
        if role == "dataset":
            taken.sha256 = digest
        return info
    finally:
        os.close(fd)


def take(drop: DropFolder, seen: Seen, folder: Path, work: Path, *, max_bytes: int) -> Taken:
    """Copy a dataset, its sidecar and the files it names; plan their moves to ``work``.

    Raises Changed if the file is not the one the watcher saw as stable,
    FileNotFoundError if it went.
    """
    with (
        parent_of(drop.root, drop.incoming / seen.name) as (incoming, name),
        contextlib.ExitStack() as undo,
    ):
        fd = os.open(name, READ_FLAGS, dir_fd=incoming)
        try:
            info = os.fstat(fd)
        finally:
            os.close(fd)
        if not stat.S_ISREG(info.st_mode) or (
            info.st_size,
            info.st_mtime_ns,
            info.st_ino,
        ) != (seen.size, seen.mtime_ns, seen.inode):
            raise Changed("not the file seen stable")
        folder.mkdir(mode=0o700, parents=True)
        undo.callback(shutil.rmtree, folder, ignore_errors=True)
        taken = Taken(sha256="", owner_uid=info.st_uid)
        _plan(taken, "dataset", seen.name, drop.incoming, work, identity(info))
        got = _take_one(
            taken,
            incoming,
            name,
            "dataset",
            seen.name,
            folder,
            limit=max_bytes,
            wanted=identity(info),
        )
        if got is None:
            raise FileNotFoundError(seen.name)
        if "dataset" in taken.unfit:
            raise Changed(taken.unfit["dataset"][1])
        sidecar = Path(seen.name).stem + SIDECAR_SUFFIX
        _take_sidecar(taken, incoming, sidecar, drop.incoming, folder, work)
        still = lstat_at(incoming, name)
        if still is None:
            raise FileNotFoundError(seen.name)  # taken back by its producer while copied
        if identity(still) != identity(info):
            raise Changed("replaced while it was copied")
        _write_manifest(folder, taken)
        undo.pop_all()
    return taken


def _plan(taken: Taken, role: str, relative: str, source: Path, work: Path, found: str) -> None:
    taken.names[role] = relative
    taken.moves[role] = (str(source / relative), str(work / relative))
    taken.identities[role] = found


def _take_sidecar(
    taken: Taken, incoming: int, name: str, source: Path, folder: Path, work: Path
) -> None:
    info = lstat_at(incoming, name)
    if info is None:
        return
    if info.st_uid != taken.owner_uid:
        log.warning(
            "sidecar_ignored",
            sidecar=name,
            reason="it belongs to another user than the dataset's",
        )
        return
    got = _take_one(taken, incoming, name, "sidecar", name, folder, limit=None)
    if got is None:
        return
    _plan(taken, "sidecar", name, source, work, identity(got))
    if "sidecar" not in taken.copies:
        return
    for role, relative in sidecar_companions(taken.copies["sidecar"]).items():
        parts = PurePosixPath(relative).parts
        if any(part in ("", ".", "..") for part in parts):
            continue  # outside incoming/: not moved; the validator says it is missing
        try:
            where = walk(incoming, parts[:-1])
        except OSError as exc:
            if exc.errno in WALK_FAILURES:
                continue  # through a link, or not there: never followed
            raise
        try:
            got = _take_one(taken, where, parts[-1], role, relative, folder, limit=None)
        finally:
            os.close(where)
        if got is not None and got.st_uid == taken.owner_uid:
            _plan(taken, role, relative, source, work, identity(got))


def _write_manifest(folder: Path, taken: Taken) -> None:
    fd = os.open(folder / MANIFEST, NEW_FILE_FLAGS, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(taken.to_json(), handle)
        handle.flush()
        os.fsync(handle.fileno())


def load(folder: Path) -> Taken | None:
    """The copy taken at the claim, or None if there is none (taken before this version)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return Taken(
        sha256=str(data["sha256"]),
        owner_uid=int(data["owner_uid"]),
        copies={str(k): str(v) for k, v in data["copies"].items()},
        unfit={str(k): (str(v[0]), str(v[1])) for k, v in data["unfit"].items()},
        names={str(k): str(v) for k, v in data["names"].items()},
    )


def retake(
    root: Path, files: dict[str, FileRow], folder: Path, owner_uid: int | None, *, max_bytes: int
) -> Taken:
    """A copy of a dataset's files where they are now (a retried one, or one claimed by
    an older ftd), each checked to be the recorded file."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700, parents=True)
    owner = owner_uid
    taken = Taken(sha256="", owner_uid=-1)
    for role in ("dataset", *sorted(set(files) - {"dataset"})):
        if role not in files:
            continue
        path = Path(files[role].path)
        taken.names[role] = path.name
        try:
            with parent_of(root, path) as (fd, name):
                if owner is None:
                    info = lstat_at(fd, name)
                    owner = info.st_uid if info is not None else -1
                taken.owner_uid = owner
                _take_one(
                    taken,
                    fd,
                    name,
                    role,
                    path.name,
                    folder,
                    limit=max_bytes if role == "dataset" else None,
                    wanted=files[role].identity,
                )
        except OSError as exc:
            if exc.errno not in WALK_FAILURES:
                raise
    _write_manifest(folder, taken)
    return taken


def discard(folder: Path) -> None:
    """The copy is no longer needed: the splits (or the verdict) hold what counts."""
    shutil.rmtree(folder, ignore_errors=True)


# The states whose datasets still read their copy; past them the splits hold what counts.
READ_IN = frozenset({"detected", "validating"})


def leftovers(snapshots: Path, tags: dict[str, str]) -> dict[str, str]:
    """Copies nothing will read again, tag -> why: those of no dataset (a crash came
    between the copy and its row) and those of datasets past validation (between the
    verdict and the discard). ``tags`` maps each dataset's tag to its state."""
    try:
        found = [entry for entry in os.scandir(snapshots) if entry.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return {}
    unread: dict[str, str] = {}
    for entry in found:
        state = tags.get(entry.name)
        if state is None:
            unread[entry.name] = "no dataset holds it (taken just before a crash)"
        elif state not in READ_IN:
            unread[entry.name] = f"its dataset is {state}, past validation"
    return unread


async def clean_leftovers(store: Store, snapshots: Path) -> int:
    """Remove the copies nothing will read again; at start, before anything is taken."""
    rows = await store.read("SELECT tag, state FROM datasets")
    tags = {str(r["tag"]): str(r["state"]) for r in rows}
    unread = await anyio.to_thread.run_sync(leftovers, snapshots, tags)
    for tag, why in unread.items():
        await anyio.to_thread.run_sync(discard, snapshots / tag)
        log.info("snapshot_removed", tag=tag, reason=why)
    return len(unread)
