"""A profile's troubles: shown per profile, lasting errors backed off, old ones dropped."""

from __future__ import annotations

import pytest

from ftd.errors import RemoteError
from ftd.providers.health import (
    BACKOFF_MAX_SECONDS,
    LASTING_FAILURES,
    STALE_SECONDS,
    Health,
)
from ftd.providers.kinds import TRANSIENT
from tests.providers.test_core import Scripted, job

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def error() -> RemoteError:
    return RemoteError("file_content", "500 boom", status=500, kind=TRANSIENT, retryable=True)


def test_a_lasting_error_shows_and_backs_off_until_a_success_clears_it() -> None:
    clock = Clock()
    health = Health("eu", clock)
    for _ in range(LASTING_FAILURES - 1):
        health.failed("file_content", "file-1", error())
        assert health.due("file_content", "file-1")  # a passing glitch is tried again at once
    assert health.warnings() == []
    health.failed("file_content", "file-1", error())
    assert not health.due("file_content", "file-1")
    assert health.due("file_content", "file-2")  # only that object waits
    (shown,) = health.warnings()
    assert shown["kind"] == "remote_failing"
    assert shown["profile"] == "eu"
    assert "provider eu" in shown["message"]
    assert "file-1" in shown["message"]
    assert "500 boom" in shown["message"]
    waits = []
    for _ in range(12):
        start = clock.now
        while not health.due("file_content", "file-1"):
            clock.now += 1.0
        waits.append(clock.now - start)
        health.failed("file_content", "file-1", error())
    assert waits[-1] > waits[0]  # each failure waits longer
    assert max(waits) <= BACKOFF_MAX_SECONDS + 1
    health.succeeded("file_content", "file-1")
    assert health.due("file_content", "file-1")
    assert health.warnings() == []


def test_a_noted_trouble_is_counted_and_dropped_once_stale() -> None:
    clock = Clock()
    health = Health("default", clock)
    health.note("remote_cursor_stuck", "list_jobs")
    clock.now += 10
    health.note("remote_cursor_stuck", "list_jobs")
    (shown,) = health.warnings()
    assert shown["kind"] == "remote_cursor_stuck"
    assert "2 time(s)" in shown["message"]
    assert "list_jobs" in shown["message"]
    clock.now += STALE_SECONDS + 1
    assert health.warnings() == []


async def test_a_stuck_walk_and_a_failing_list_reach_the_providers_health() -> None:
    provider = Scripted([([job("ftjob-same")], True)])
    await provider.find_jobs("ftd_tag", "abc")
    kinds = [w["kind"] for w in provider.health.warnings()]
    assert kinds == ["remote_cursor_stuck"]
    provider.failures = [
        RemoteError("list_jobs", "400 bad", status=400, kind="invalid")
        for _ in range(LASTING_FAILURES)
    ]
    for _ in range(LASTING_FAILURES):
        with pytest.raises(RemoteError):
            await provider.jobs_page({})
    assert "remote_failing" in [w["kind"] for w in provider.health.warnings()]
    await provider.jobs_page({})  # the server answers again
    assert "remote_failing" not in [w["kind"] for w in provider.health.warnings()]
