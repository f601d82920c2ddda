"""The daemon's hold on its database: opened when the machine lets it, watched while it runs.

At start a full disk or a database locked by another process is a state of
the machine, not a fault of ftd: it says why once, tells systemd in its
status line (and asks for more start-up time), and tries again, until it
opens or the daemon is told to stop. The steps before (the state and drop
folders, the lock file, the control socket) wait alike (``when_possible``).
A malformed database still fails the start at once: waiting cannot mend it.

While running, the file the daemon opened must stay the file at its path:
one deleted or replaced behind its back would be found missing at the next
start, and every dataset and job with it. The path's device and inode are
compared with the open file's at every look; a difference stops the daemon
loudly with EXIT_DATABASE_GONE, which systemd is told not to restart.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
from typing import TYPE_CHECKING, TypeVar

import anyio

from ftd.daemon.stages import _environmental
from ftd.errors import FtdError
from ftd.logs import get_logger
from ftd.store import Store
from ftd.store.db import StoreError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from ftd.systemd import Notifier

T = TypeVar("T")
log = get_logger("ftd.daemon.database")
OPEN_RETRY_SECONDS = (1.0, 30.0)
IDENTITY_CHECK_SECONDS = 2.0
# How much longer systemd should wait for READY=1 at each retry (EXTEND_TIMEOUT_USEC).
START_EXTENSION_SECONDS = 90.0


class DatabaseGone(FtdError):
    """The database file was removed or replaced while the daemon had it open."""


def _waitable(exc: BaseException) -> bool:
    """Whether an error opening the database is the machine's state, over in time."""
    cause = exc.__cause__ if isinstance(exc, StoreError) else exc
    if isinstance(cause, sqlite3.Error | OSError):
        return _environmental(cause)
    return False


class StartStopped(FtdError):
    """SIGTERM or SIGINT came while the start waited for the machine."""


async def when_possible(
    step: str,
    attempt: Callable[[], Awaitable[T]],
    notifier: Notifier,
    *,
    where: Path | None = None,
    waiting: str = "startup_waiting",
    resumed: str = "startup_resumed",
    watch_signals: bool = True,
) -> T:
    """``attempt``'s result once the machine lets it succeed; StartStopped if told to stop.

    Only a state of the machine is waited out (a full disk or quota, a read-only
    file system, a locked database); any other error fails the start at once.
    Each new reason is logged once, and systemd's status line says what waits.
    Without ``watch_signals`` the caller watches SIGTERM and SIGINT (and cancels
    the wait): asyncio holds one receiver per signal at a time.
    """
    low, high = OPEN_RETRY_SECONDS
    wait = low
    said: str | None = None
    with contextlib.ExitStack() as held:
        signals = (
            held.enter_context(anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT))
            if watch_signals
            else None
        )
        while True:
            try:
                result = await attempt()
            except (StoreError, OSError) as exc:
                if not _waitable(exc):
                    raise
                error = str(exc)
                if error != said:
                    log.error(waiting, step=step, path=str(where), error=error, retry_in=wait)
                    said = error
                notifier.send(
                    STATUS=f"waiting for the {step}: {error}"[:400],
                    EXTEND_TIMEOUT_USEC=int(START_EXTENSION_SECONDS * 1e6),
                )
            else:
                if said is not None:
                    log.info(resumed, step=step, path=str(where))
                return result
            if signals is None:
                await anyio.sleep(wait)
                wait = min(high, wait * 2)
                continue
            with anyio.move_on_after(wait):
                async for number in signals:
                    log.info("daemon_stopping", signal=signal.Signals(number).name)
                    raise StartStopped(f"stopped by {signal.Signals(number).name} while waiting")
            wait = min(high, wait * 2)


def now(call: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    """A synchronous start-up step, as ``when_possible`` takes it."""

    async def attempt() -> T:
        return call()

    return attempt


async def open_when_possible(
    path: Path, notifier: Notifier, *, watch_signals: bool = True
) -> Store | None:
    """The store, once it can be opened; None if SIGTERM or SIGINT came first."""
    try:
        return await when_possible(
            "database",
            lambda: Store.open(path),
            notifier,
            where=path,
            waiting="database_unavailable",
            resumed="database_available",
            watch_signals=watch_signals,
        )
    except StartStopped:
        return None


def identity_of(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


async def watch_identity(path: Path, opened: tuple[int, int]) -> None:
    """Raise DatabaseGone as soon as ``path`` is no longer the file opened."""
    while True:
        await anyio.sleep(IDENTITY_CHECK_SECONDS)
        try:
            now = identity_of(path)
        except FileNotFoundError:
            log.critical("database_gone", path=str(path), reason="removed while open")
            raise DatabaseGone(f"database {path} was removed while ftd had it open") from None
        except OSError as exc:
            log.warning("database_unseen", path=str(path), error=str(exc))
            continue
        if now != opened:
            log.critical(
                "database_gone", path=str(path), reason="replaced by another file while open"
            )
            raise DatabaseGone(
                f"database {path} was replaced by another file while ftd had it open"
            )
