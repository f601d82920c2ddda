"""Keeping back-offs as long as they were meant when the wall clock is set back or forward.

A dataset's next attempt is stored as a wall-clock time (it must survive a
restart), and the stages compare it with the wall clock. Set the clock back
two hours and a 4 s back-off would last two hours and 4 s. So the daemon
measures the wall clock against the monotonic one once a second; when they
part by more than JUMP_SECONDS, every stored next attempt is moved by the
same amount, keeping each wait's remaining length, and the stages are woken.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio

from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus

    from ftd.store import Store

log = get_logger("ftd.daemon.clockjump")
CHECK_SECONDS = 1.0
JUMP_SECONDS = 5.0


class ClockWatch:
    """Finds the wall clock's jumps against the monotonic clock (both injectable)."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._base = (wall(), monotonic())

    def jump(self) -> float:
        """Seconds the wall clock moved beyond the time that passed (0 if under the limit)."""
        wall, monotonic = self._wall(), self._monotonic()
        drift = (wall - self._base[0]) - (monotonic - self._base[1])
        self._base = (wall, monotonic)
        return drift if abs(drift) > JUMP_SECONDS else 0.0


async def shift_waits(store: Store, seconds: float) -> int:
    """Move every stored next attempt by ``seconds``; how many rows moved."""
    async with store.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE datasets SET next_attempt_at = next_attempt_at + ? "
            "WHERE next_attempt_at IS NOT NULL",
            (seconds,),
        )
        return cursor.rowcount


async def follow_clock(
    store: Store,
    on_shifted: Callable[[], None],
    watch: ClockWatch | None = None,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    clock = watch or ClockWatch()
    task_status.started()
    while True:
        await anyio.sleep(CHECK_SECONDS)
        await step(store, clock, on_shifted)


async def step(store: Store, clock: ClockWatch, on_shifted: Callable[[], None]) -> float:
    """One look: shift the waits if the wall clock jumped; the jump in seconds."""
    jumped = clock.jump()
    if jumped:
        moved = await shift_waits(store, jumped)
        log.warning("wall_clock_jumped", seconds=round(jumped, 3), waits_moved=moved)
        on_shifted()
    return jumped
