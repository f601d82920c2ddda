"""SIGTERM, SIGINT and SIGHUP from the moment the control socket answers to the end.

asyncio keeps one handler per signal, and closing a receiver puts the
default back (which, for SIGTERM, kills the process with no clean-up), so the
daemon holds a single receiver for its whole life after the socket instead
of one per phase: a stop asked while the start is still under way (even
during the database's first open) cancels the start, and the shielded
clean-ups run as they do for a stop later on. A SIGHUP during the start
reloads the configuration once the parts that a reload changes exist.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

import anyio

from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import TaskStatus

log = get_logger("ftd.daemon")


class Signals:
    """Stop signals cancel ``scope``; SIGHUP calls the reload once there is one."""

    def __init__(self, scope: anyio.CancelScope, stopping: Callable[[], object]) -> None:
        self._scope = scope
        self._stopping = stopping
        self._reload: Callable[[], Awaitable[Any]] | None = None
        self._reload_asked = False

    def reload_with(self, reload: Callable[[], Awaitable[Any]]) -> bool:
        """SIGHUP calls ``reload`` from now on; True if one came while there was none."""
        self._reload = reload
        asked, self._reload_asked = self._reload_asked, False
        return asked

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as received:
            task_status.started()
            async for number in received:
                if number == signal.SIGHUP:
                    if self._reload is None:
                        log.info("reload_after_start")  # the parts it changes are not built yet
                        self._reload_asked = True
                    else:
                        await self._reload()
                    continue
                log.info("daemon_stopping", signal=signal.Signals(number).name)
                self._stopping()
                self._scope.cancel()
                return
