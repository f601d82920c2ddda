"""One daemon per state directory: an exclusive ``flock`` held for the process's life.

The kernel drops the lock when the process dies, however it dies, so a
SIGKILL never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ftd.errors import FtdError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class LockHeldError(FtdError):
    """Another ftd already runs on this state directory."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"another ftd run holds {path}{holder}; stop it first")
        self.path = path


@contextmanager
def hold_lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise LockHeldError(path, f" (pid {pid})" if pid.isdigit() else "") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
