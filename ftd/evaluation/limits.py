"""An adaptive concurrency limit per model: halve on a 429, wait out retry-after, grow back slowly.

Chat completions have their own rate limits at the provider, per model, so
each model (the judge included) gets its own limit instead of sharing the
fine-tuning calls' pace. The rule is additive increase, multiplicative
decrease: a 429 halves the limit once per round (requests that were already
in flight when it shrank do not shrink it again), and each round of
successes as large as the limit adds one, up to the configured ceiling.
Waiters are served first come, first served.
"""

from __future__ import annotations

import math
import time
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

log = get_logger("ftd.evaluation.limits")
MAX_HOLD_SECONDS = 120.0


@dataclass(slots=True)
class Ticket:
    """One admitted request; remembers the round it started in."""

    generation: int


class _Waiter:
    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False


class AdaptiveLimit:
    def __init__(
        self,
        name: str,
        *,
        ceiling: int,
        floor: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= floor <= ceiling:
            raise ValueError(f"limit {name}: need 1 <= floor <= ceiling, got {floor}, {ceiling}")
        self.name = name
        self.ceiling = ceiling
        self.floor = floor
        self.limit = ceiling
        self.in_flight = 0
        self.peak = 0  # the most in flight at once, for tests and benchmarks
        self.shrinks = 0
        self.holds = 0
        self._clock = clock
        self._resume_at = 0.0
        self._generation = 0
        self._successes = 0
        self._waiters: deque[_Waiter] = deque()

    # ------------------------------------------------------------------ admission

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Ticket]:
        await self._acquire()
        try:
            yield Ticket(self._generation)
        finally:
            self._release()

    async def _acquire(self) -> None:
        waiter = _Waiter()
        self._waiters.append(waiter)
        try:
            while True:
                self._dispatch()
                if waiter.granted:
                    return
                waiter.event = anyio.Event()
                pause = self._resume_at - self._clock()
                with anyio.move_on_after(pause if pause > 0 else math.inf):
                    await waiter.event.wait()
        except BaseException:
            if waiter.granted:
                self._release()  # the slot was handed over as we were cancelled
            else:
                self._waiters.remove(waiter)
            raise

    def _release(self) -> None:
        self.in_flight -= 1
        self._dispatch()

    def _dispatch(self) -> None:
        if self._clock() < self._resume_at:
            return
        while self._waiters and self.in_flight < self.limit:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            waiter = self._waiters.popleft()
            waiter.granted = True
            waiter.event.set()

    # ------------------------------------------------------------------ feedback

    def succeeded(self) -> None:
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.ceiling:
            self._successes = 0
            self.limit += 1
            log.debug("eval_limit_grew", model=self.name, limit=self.limit)
            self._dispatch()

    def rate_limited(self, ticket: Ticket, retry_after: float | None) -> None:
        """A 429: no request starts before retry-after, and the limit halves once per round."""
        pause = min(max(retry_after if retry_after is not None else 1.0, 0.0), MAX_HOLD_SECONDS)
        until = self._clock() + pause
        if until > self._resume_at:
            self._resume_at = until
            self.holds += 1
            for waiter in self._waiters:
                waiter.event.set()  # each looks again and sleeps until the hold ends
        self._successes = 0
        if ticket.generation == self._generation:
            self._generation += 1
            before = self.limit
            self.limit = max(self.floor, self.limit // 2)
            self.shrinks += 1
            log.info(
                "eval_limit_shrank",
                model=self.name,
                limit=self.limit,
                previous=before,
                retry_after=round(pause, 3),
            )

    def state(self) -> dict[str, int | float]:
        return {
            "limit": self.limit,
            "ceiling": self.ceiling,
            "in_flight": self.in_flight,
            "peak": self.peak,
            "shrinks": self.shrinks,
            "held_for_seconds": round(max(0.0, self._resume_at - self._clock()), 3),
        }


class Limits:
    """One AdaptiveLimit per model, made on first use with the configured ceiling."""

    def __init__(self, ceiling_for: Callable[[str], int]) -> None:
        self._ceiling_for = ceiling_for
        self._limits: dict[str, AdaptiveLimit] = {}

    def __call__(self, model: str) -> AdaptiveLimit:
        limit = self._limits.get(model)
        if limit is None:
            limit = self._limits[model] = AdaptiveLimit(model, ceiling=self._ceiling_for(model))
        return limit

    def reconfigure(self, ceiling_for: Callable[[str], int]) -> None:
        """New ceilings from a reloaded configuration; a limit above its new ceiling drops to it."""
        self._ceiling_for = ceiling_for
        for name, limit in self._limits.items():
            ceiling = ceiling_for(name)
            if ceiling != limit.ceiling:
                limit.ceiling = ceiling
                limit.limit = min(limit.limit, ceiling)

    def state(self) -> dict[str, dict[str, int | float]]:
        return {name: limit.state() for name, limit in self._limits.items()}
