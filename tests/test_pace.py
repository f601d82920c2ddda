"""The shared pace: concurrency, a per-minute rate, and holds the provider asks for."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from ftd.pace import Pace, parse_duration

pytestmark = pytest.mark.anyio


class Time:
    """A clock that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds
        await anyio.lowlevel.checkpoint()


def test_durations_in_the_rate_limit_headers() -> None:
    assert parse_duration("6m0s") == 360.0
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("20ms") == 0.02
    assert parse_duration("1h2m") == 3720.0
    assert parse_duration("soon") is None
    assert parse_duration("") is None


async def test_the_rate_is_kept_per_minute() -> None:
    time = Time()
    pace = Pace(concurrency=4, per_minute=3, clock=time.clock, sleep=time.sleep)
    for _ in range(7):
        async with pace.slot():
            pass
    assert time.now == 120.0  # requests 4-6 wait for the first minute, 7 for the second
    assert time.slept == [60.0, 60.0]


async def test_a_hold_delays_everyone_and_headers_can_ask_for_one() -> None:
    time = Time()
    pace = Pace(concurrency=2, per_minute=None, clock=time.clock, sleep=time.sleep)
    pace.hold(2.5, "429")
    async with pace.slot():
        assert time.now == 2.5
    pace.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"})
    async with pace.slot():
        assert time.now == 3.5
    pace.observe({"x-ratelimit-remaining-requests": "12", "x-ratelimit-reset-requests": "9s"})
    pace.hold(999, "too long")  # capped
    async with pace.slot():
        assert time.now == 3.5 + 120
    assert pace.holds == 3


async def test_concurrency_is_bounded() -> None:
    pace = Pace(concurrency=2, per_minute=None)
    running = 0
    peak = 0

    async def call() -> None:
        nonlocal running, peak
        async with pace.slot():
            running += 1
            peak = max(peak, running)
            await anyio.sleep(0.01)
            running -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(call)
    assert peak == 2
