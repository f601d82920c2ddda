"""The rules every adapter inherits: bounded walks, tags checked, deadlines, creates sent once."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from ftd.errors import RemoteError
from ftd.providers import JobRequest, Provider, RemoteJob
from ftd.providers.core import MAX_PAGES, CallPolicy
from ftd.providers.kinds import TRANSIENT, UNSUPPORTED
from ftd.providers.types import Capabilities

pytestmark = pytest.mark.anyio


class Scripted(Provider):
    """An adapter whose job list is whatever the test says, and counts what it was asked."""

    kind = "scripted"

    def __init__(self, pages: list[tuple[list[RemoteJob], bool]], **options: Any) -> None:
        super().__init__("scripted", **options)
        self.pages = pages
        self.asked: list[tuple[dict[str, str], str | None]] = []
        self.creates = 0
        self.delay = 0.0
        self.failures: list[RemoteError] = []

    async def _op_jobs_page(
        self, metadata: dict[str, str], after: str | None, limit: int
    ) -> tuple[list[RemoteJob], bool]:
        self.asked.append((metadata, after))
        await anyio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        return self.pages[min(len(self.asked) - 1, len(self.pages) - 1)]

    async def _op_create_job(self, request: JobRequest) -> RemoteJob:
        self.creates += 1
        raise RemoteError("create_job", "503", status=503, kind=TRANSIENT, retryable=True)


def job(job_id: str, **metadata: str) -> RemoteJob:
    return RemoteJob(id=job_id, status="running", model="m", metadata=metadata)


async def no_wait(_seconds: float) -> None:
    return None


async def test_a_list_that_always_has_more_stops_after_the_page_cap() -> None:
    pages = [([job(f"ftjob-{i}")], True) for i in range(10_000)]
    provider = Scripted(pages)
    found = await provider.find_jobs("ftd_tag", "abc")
    assert found == []
    assert len(provider.asked) == MAX_PAGES


async def test_a_cursor_that_does_not_advance_stops_the_walk() -> None:
    provider = Scripted([([job("ftjob-same")], True)])
    await provider.find_jobs("ftd_tag", "abc")
    assert len(provider.asked) == 2  # the second answer repeats the first cursor


async def test_a_server_ignoring_the_filter_cannot_make_another_job_ours() -> None:
    ours, theirs = job("ftjob-1", ftd_tag="abc"), job("ftjob-2", ftd_tag="zzz")
    provider = Scripted([([theirs, ours, job("ftjob-3")], False)])
    provider.capabilities = Capabilities(metadata_filter=True)
    found = await provider.find_jobs("ftd_tag", "abc")
    assert [j.id for j in found] == ["ftjob-1"]
    assert provider.asked[0][0] == {"ftd_tag": "abc"}


async def test_without_a_server_filter_the_list_is_walked_and_read() -> None:
    provider = Scripted(
        [([job("ftjob-9", ftd_tag="zzz")], True), ([job("ftjob-1", ftd_tag="abc")], False)]
    )
    provider.capabilities = Capabilities(metadata_filter=False)
    found = await provider.find_jobs("ftd_tag", "abc")
    assert [j.id for j in found] == ["ftjob-1"]
    assert [metadata for metadata, _after in provider.asked] == [{}, {}]
    assert provider.asked[1][1] == "ftjob-9"


async def test_a_read_ends_within_its_total_deadline_however_slow_the_server() -> None:
    provider = Scripted([([], False)], policy=CallPolicy(deadline=0.3), sleep=no_wait)
    provider.delay = 30.0
    with anyio.fail_after(10):
        with pytest.raises(RemoteError) as failure:
            await provider.jobs_page({})
    assert failure.value.kind == TRANSIENT
    assert "deadline" in str(failure.value)


async def test_reads_retry_a_bounded_number_of_times() -> None:
    provider = Scripted([([], False)], policy=CallPolicy(retries=2), sleep=no_wait)
    provider.failures = [
        RemoteError("list_jobs", "503", status=503, kind=TRANSIENT, retryable=True)
        for _ in range(5)
    ]
    with pytest.raises(RemoteError):
        await provider.jobs_page({})
    assert len(provider.asked) == 3


async def test_a_create_is_sent_once() -> None:
    provider = Scripted([([], False)], sleep=no_wait)
    request = JobRequest(model="m", training_file="file-1", metadata={})
    with pytest.raises(RemoteError):
        await provider.create_job(request)
    assert provider.creates == 1


async def test_what_a_provider_cannot_do_is_said_not_tried() -> None:
    provider = Scripted([([], False)])
    provider.capabilities = Capabilities(pause=False, needs_deployment=False)
    with pytest.raises(RemoteError) as refused:
        await provider.pause_job("ftjob-1")
    assert refused.value.kind == UNSUPPORTED
    assert "pausing a job is not supported by the scripted provider" in str(refused.value)
    assert await provider.deployment("anything") is None
    assert provider.asked == []


async def test_an_events_page_of_a_million_is_cut_to_the_limit() -> None:
    from ftd.providers import JobEvent

    class Flood(Scripted):
        async def _op_events_page(
            self, job_id: str, after: str | None, limit: int
        ) -> tuple[list[JobEvent], bool]:
            head = [JobEvent(f"ftevent-{i}", 1, "info", "message", "m") for i in range(limit)]
            return head + [JobEvent("ftevent-x", 1, "info", "message", "m")] * 999_900, False

    page, more = await Flood([]).events_page("ftjob-1", limit=100)
    assert [e.id for e in page] == [f"ftevent-{i}" for i in range(100)]
    assert more  # what was cut off is read from the last kept cursor
