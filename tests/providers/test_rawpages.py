"""Raw list pages: what a server sends becomes ftd's records only where its fields make sense."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

import pytest

from ftd.errors import RemoteError
from ftd.providers import rawpages
from ftd.providers.rawpages import events_page_of, jobs_page_of
from ftd.providers.types import JobError

pytestmark = pytest.mark.anyio


def page(items: Sequence[object], more: object = False) -> bytes:
    # The standard encoder: it writes integers past 64 bits, as a hostile server may.
    return json.dumps({"object": "list", "data": list(items), "has_more": more}).encode()


GOOD_JOB = {
    "id": "ftjob-1",
    "status": "running",
    "model": "gpt-4.1-mini-2025-04-14",
    "fine_tuned_model": None,
    "trained_tokens": 1200,
    "estimated_finish": 1_800_000_000,
    "error": None,
    "result_files": ["file-1"],
    "metadata": {"ftd_instance": "abc"},
    "created_at": 1_700_000_000,
}


def test_a_well_formed_job_keeps_every_field() -> None:
    jobs, more = jobs_page_of(page([GOOD_JOB], more=True), 100)
    assert more is True
    [job] = jobs
    assert (job.id, job.status, job.provider_status, job.model) == (
        "ftjob-1",
        "running",
        "running",
        "gpt-4.1-mini-2025-04-14",
    )
    assert job.trained_tokens == 1200
    assert job.estimated_finish == 1_800_000_000.0
    assert job.result_files == ("file-1",)
    assert job.metadata == {"ftd_instance": "abc"}
    assert job.created_at == 1_700_000_000.0


@pytest.mark.parametrize(
    "item",
    [
        "ftjob-1",
        None,
        {**GOOD_JOB, "id": 7},
        {**GOOD_JOB, "id": ""},
        {**GOOD_JOB, "id": "x" * 1000},
        {**GOOD_JOB, "status": None},
        {**GOOD_JOB, "status": ["running"]},
    ],
)
def test_a_job_without_a_sane_id_or_status_is_left_out(item: object) -> None:
    jobs, _ = jobs_page_of(page([item, GOOD_JOB]), 100)
    assert [j.id for j in jobs] == ["ftjob-1"]


def test_optional_job_fields_of_the_wrong_type_read_as_not_said() -> None:
    odd = {
        **GOOD_JOB,
        "model": 5,
        "fine_tuned_model": {"x": 1},
        "trained_tokens": True,
        "estimated_finish": "soon",
        "error": {"code": 429, "message": "m"},
        "result_files": ["file-1", 3, None, ""],
        "metadata": {"ftd_instance": 1, "k": "v", "2": ["x"]},
        "created_at": 1e300,
    }
    [job] = jobs_page_of(page([odd]), 100)[0]
    assert job.model == ""
    assert job.fine_tuned_model is None
    assert job.trained_tokens is None
    assert job.estimated_finish is None
    assert job.error is None
    assert job.result_files == ("file-1",)
    assert job.metadata == {"k": "v"}  # a tag that is not a string is no tag
    assert job.created_at is None


def test_a_job_error_with_a_code_is_kept() -> None:
    failed = {**GOOD_JOB, "status": "failed", "error": {"code": "invalid_file", "param": 3}}
    [job] = jobs_page_of(page([failed]), 100)[0]
    assert job.error == JobError("invalid_file", None, None)


def test_has_more_is_true_only_when_the_server_says_true() -> None:
    for said in ("true", 1, None, "yes"):
        assert jobs_page_of(page([GOOD_JOB], more=said), 100)[1] is False


def test_a_page_longer_than_asked_is_cut_and_read_as_having_more() -> None:
    items = [{**GOOD_JOB, "id": f"ftjob-{n}"} for n in range(5)]
    jobs, more = jobs_page_of(page(items), 3)
    assert [j.id for j in jobs] == ["ftjob-0", "ftjob-1", "ftjob-2"]
    assert more is True


@pytest.mark.parametrize(
    "body",
    [b"<html>busy</html>", b"[]", b'{"data": {}}', b'{"object": "list"}', b""],
)
def test_an_answer_that_is_no_page_is_a_retryable_error(body: bytes) -> None:
    with pytest.raises(RemoteError) as caught:
        jobs_page_of(body, 100)
    assert caught.value.retryable
    assert caught.value.operation == "list_jobs"


GOOD_EVENT = {
    "id": "ftevent-1",
    "object": "fine_tuning.job.event",
    "created_at": 1_700_000_000,
    "level": "info",
    "message": "Step 1/10: training loss=1.2",
    "type": "metrics",
    "data": {"step": 1, "train_loss": 1.2},
}


def test_a_well_formed_event_keeps_every_field() -> None:
    [event] = events_page_of(page([GOOD_EVENT]), 100)[0]
    assert (event.id, event.created_at, event.level, event.type) == (
        "ftevent-1",
        1_700_000_000,
        "info",
        "metrics",
    )
    assert event.message == "Step 1/10: training loss=1.2"
    assert event.data == {"step": 1, "train_loss": 1.2}


@pytest.mark.parametrize(
    "item",
    [
        {**GOOD_EVENT, "id": None},
        {**GOOD_EVENT, "created_at": "yesterday"},
        {**GOOD_EVENT, "created_at": 2**64},
        {**GOOD_EVENT, "created_at": -1},
        {**GOOD_EVENT, "created_at": False},
        [GOOD_EVENT],
    ],
)
def test_an_event_without_a_sane_id_or_time_is_left_out(item: object) -> None:
    events, _ = events_page_of(page([item]), 100)
    assert events == []


def test_optional_event_fields_of_the_wrong_type_fall_back() -> None:
    odd = {**GOOD_EVENT, "level": 3, "type": None, "message": {"m": 1}, "data": [1, 2]}
    [event] = events_page_of(page([odd]), 100)[0]
    assert (event.level, event.type, event.message, event.data) == ("info", "message", "", None)


def test_a_long_message_is_cut_to_the_bound() -> None:
    long = {**GOOD_EVENT, "message": "x" * (rawpages.MAX_TEXT + 10)}
    [event] = events_page_of(page([long]), 100)[0]
    assert len(event.message) == rawpages.MAX_TEXT


async def chunks(sizes: list[int]) -> AsyncIterator[bytes]:
    for size in sizes:
        yield b"x" * size


async def test_a_body_is_read_whole_up_to_its_bound() -> None:
    assert await rawpages.bounded_body(chunks([10, 20]), "list_events") == b"x" * 30


async def test_a_body_past_its_bound_is_refused_while_it_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rawpages, "MAX_PAGE_BYTES", 25)
    with pytest.raises(RemoteError, match="over the 25 bytes") as caught:
        await rawpages.bounded_body(chunks([10, 10, 10, 10]), "list_events")
    assert not caught.value.retryable  # the same request would bring the same answer
