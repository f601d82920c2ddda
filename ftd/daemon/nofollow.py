"""Reaching files in the drop folder only through folders ftd opened itself, never a link.

Producers may rename, swap and link anything they can write, at any moment,
so no path ftd once looked at is trusted to lead to the same place again.
Every path is walked from a folder ftd trusts (the drop folder's root as
configured), one name at a time with ``O_NOFOLLOW``, and the last step is
made relative to that descriptor: a folder swapped for a link on the way, or
a link put where a file was, ends the walk with an error instead of leading
into ftd's state. Files ftd writes are created under a fresh name with
``O_EXCL`` and only then given their own name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import struct
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Non-blocking: a FIFO put in a file's place can neither hang the open nor a read.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# What a failed walk says: a link (ELOOP), a file where a folder should be
# (ENOTDIR), a name that is gone (ENOENT).
WALK_FAILURES = (errno.ELOOP, errno.ENOTDIR, errno.ENOENT, errno.EMLINK)


class UnsafePath(OSError):
    """A path that leaves the folder it must stay in, or passes through a link."""


def relative_parts(root: Path, path: Path | str) -> tuple[str, ...]:
    """The names leading from ``root`` to ``path``; raises if ``path`` is not under it."""
    try:
        parts = PurePosixPath(os.path.normpath(path)).relative_to(os.path.normpath(root)).parts
    except ValueError:
        raise UnsafePath(errno.EXDEV, f"{path} is not under {root}") from None
    if not parts or any(part in ("", ".", "..") for part in parts):
        raise UnsafePath(errno.EINVAL, f"{path} does not name a file under {root}")
    return parts


def walk(start: int, names: Sequence[str], *, create: bool = False) -> int:
    """A new descriptor of the folder ``names`` lead to from ``start``, never through a link."""
    fd = os.dup(start)
    try:
        for name in names:
            if name in ("", ".", "..") or "/" in name:
                raise UnsafePath(errno.EINVAL, f"{name!r} is not a folder name")
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o750, dir_fd=fd)
            step = os.open(name, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = step
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def opened_root(root: Path) -> Iterator[int]:
    """The trusted folder itself (links in the configured path are the administrator's)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def parent_of(root: Path, path: Path | str, *, create: bool = False) -> Iterator[tuple[int, str]]:
    """(descriptor of the folder holding ``path``, its last name), reached from ``root``."""
    parts = relative_parts(root, path)
    with opened_root(root) as top:
        fd = walk(top, parts[:-1], create=create)
    try:
        yield fd, parts[-1]
    finally:
        os.close(fd)


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """What ``name`` is in the folder, not following a link; None if nothing is there."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def identity(info: os.stat_result) -> str:
    """device:inode, the name of a file that no rename changes."""
    return f"{info.st_dev}:{info.st_ino}"


def file_kind(mode: int) -> str | None:
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


def link_no_replace(src_fd: int, src: str, dst_fd: int, dst: str) -> None:
    """Give the file ``src`` a second name ``dst``; fails if ``dst`` exists. Never follows."""
    try:
        os.link(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # A file system without hard links: rename, having checked the name is free.
        if lstat_at(dst_fd, dst) is not None:
            raise FileExistsError(errno.EEXIST, "target exists", dst) from exc
        os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


# POSIX ACL as Linux stores it in the ``system.posix_acl_access`` attribute.
_ACL_VERSION = 2
_ACL_UNDEFINED_ID = 0xFFFFFFFF
_USER_OBJ, _USER, _GROUP_OBJ, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
_READ, _WRITE = 4, 2


def grant_read(fd: int, uid: int) -> None:
    """Let user ``uid`` (and no group, no other) read a file ftd owns and made 0600."""
    entries = [
        (_USER_OBJ, _READ | _WRITE, _ACL_UNDEFINED_ID),
        (_USER, _READ, uid),
        (_GROUP_OBJ, 0, _ACL_UNDEFINED_ID),
        (_MASK, _READ, _ACL_UNDEFINED_ID),
        (_OTHER, 0, _ACL_UNDEFINED_ID),
    ]
    value = struct.pack("<I", _ACL_VERSION) + b"".join(
        struct.pack("<HHI", *entry) for entry in entries
    )
    os.setxattr(fd, "system.posix_acl_access", value)


def share(fd: int, reader_uid: int) -> bool:
    """Let ``reader_uid`` read the 0600 file ftd just made; whether that could be done.

    By an ACL entry where the file system has ACLs; else, for a daemon running
    as root, by handing the file to the reader (theirs now, still 0600: no one
    else reads it). Never by the group's mode: the group is every producer.
    """
    try:
        grant_read(fd, reader_uid)
        return True
    except OSError:
        pass  # no ACLs on this file system (EOPNOTSUPP), or none for ftd to set
    if os.geteuid() == 0:
        os.fchown(fd, reader_uid, -1)
        return True
    return False


def write_new(
    dir_fd: int,
    name: str,
    data: bytes,
    *,
    reader_uid: int | None = None,
) -> bool:
    """Write ``name`` in the folder whole, readable by ftd and ``reader_uid`` only; False
    when ``reader_uid`` could not be let read it (no ACLs here, see readers.py).

    The bytes go to a fresh temporary name made with ``O_EXCL`` (a link put
    there beforehand makes it fail, never leads elsewhere), then take the
    name. An existing file of that name is replaced only if ftd owns it (its
    own earlier copy); anything else there is left alone and this fails.
    """
    temporary = f".{name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temporary, NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            shared = reader_uid is None or reader_uid == os.geteuid()
            if reader_uid is not None and not shared:
                shared = share(handle.fileno(), reader_uid)
            os.fsync(handle.fileno())
        existing = lstat_at(dir_fd, name)
        # ftd's own earlier report, or one it handed to its producer (no ACLs there).
        ours = {os.geteuid(), reader_uid} if reader_uid is not None else {os.geteuid()}
        if existing is not None and existing.st_uid not in ours:
            raise FileExistsError(errno.EEXIST, "a file ftd did not write is there", name)
        if existing is not None and stat.S_ISREG(existing.st_mode):
            os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        else:
            link_no_replace(dir_fd, temporary, dir_fd, name)
            with contextlib.suppress(FileNotFoundError):  # renamed, where links are not made
                os.unlink(temporary, dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=dir_fd)
        raise
    return shared
