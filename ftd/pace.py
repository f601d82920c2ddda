"""One pace for every request ftd sends: bounded concurrency, a request rate, and back-off.

All calls to the provider go through a single ``Pace``: at most
``concurrency`` at once, at most ``per_minute`` started in any minute, and
none while the provider has asked for a pause, whether with a 429's
``retry-after`` or by reporting, in ``x-ratelimit-remaining-requests``, that
the minute's budget is spent. One job's trouble slows everything a little
rather than letting everything trip the limit together.
"""

from __future__ import annotations

import re
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

log = get_logger("ftd.pace")
MAX_HOLD_SECONDS = 120.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | None:
    """``6m0s``, ``1.5s``, ``20ms`` -> seconds (the x-ratelimit-reset-* format)."""
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(number) * _UNIT[unit] for number, unit in parts)


class Pace:
    def __init__(
        self,
        *,
        concurrency: int,
        per_minute: int | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._slots = anyio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._per_minute = per_minute
        self._clock = clock
        self._sleep = sleep
        self._started: deque[float] = deque()
        self._resume_at = 0.0
        self.holds = 0

    def hold(self, seconds: float, reason: str) -> None:
        """No request starts for ``seconds`` (capped): the provider asked for a pause."""
        until = self._clock() + min(max(seconds, 0.0), MAX_HOLD_SECONDS)
        if until > self._resume_at:
            self._resume_at = until
            self.holds += 1
            log.info("pace_hold", seconds=round(until - self._clock(), 3), reason=reason)

    def state(self) -> dict[str, float | int | None]:
        """What ``ftd status`` shows: requests in flight, the limits, any pause in force."""
        now = self._clock()
        recent = sum(1 for t in self._started if t > now - 60.0)
        return {
            "in_flight": self._concurrency - self._slots.value,
            "concurrency": self._concurrency,
            "per_minute": self._per_minute,
            "started_last_minute": recent if self._per_minute else None,
            "held_for_seconds": round(max(0.0, self._resume_at - now), 3),
            "holds": self.holds,
        }

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read the provider's rate-limit headers from any answer."""
        remaining = headers.get("x-ratelimit-remaining-requests")
        if remaining is None or not remaining.strip().isdigit() or int(remaining) > 0:
            return
        reset = parse_duration(headers.get("x-ratelimit-reset-requests", ""))
        self.hold(reset if reset is not None else 1.0, "no requests left this window")

    async def _wait_turn(self) -> None:
        while True:
            now = self._clock()
            if now < self._resume_at:
                await self._sleep(self._resume_at - now)
                continue
            if self._per_minute:
                while self._started and self._started[0] <= now - 60.0:
                    self._started.popleft()
                if len(self._started) >= self._per_minute:
                    await self._sleep(self._started[0] + 60.0 - now)
                    continue
                self._started.append(now)
            return

    async def wait_clear(self) -> None:
        """Wait out a pause the provider asked for, without taking a slot or a turn.

        For calls with limits of their own (chat completions) that must still
        honour a pause the provider asked of the whole account.
        """
        while (left := self._resume_at - self._clock()) > 0:
            await self._sleep(left)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            await self._wait_turn()
            yield
