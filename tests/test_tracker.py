"""The tracker against the emulator on a clock the test moves: whole lives, restarts, faults."""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from ftd import catalog
from ftd.emulator.control import EmulatorControl
from ftd.emulator.server import Emulator
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from ftd.errors import RemoteError
from ftd.providers import JobEvent
from ftd.providers.core import CallPolicy
from ftd.providers.kinds import TRANSIENT
from ftd.providers.openai_api import OpenAIProvider
from ftd.store import Store
from ftd.tags import INSTANCE_KEY
from ftd.tracker import Tracker, _anchors, _differs, _unchanged
from tests.emulator.helpers import FakeClock, chat_dataset

pytestmark = pytest.mark.anyio
MODEL = "gpt-4.1-mini-2025-04-14"
PRICE = 5.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def emulator(clock: FakeClock) -> AsyncIterator[Emulator]:
    settings = EmulatorSettings(runtime=RuntimeConfig(seed=3, retry_after_ms=1))
    async with Emulator(settings, clock=clock) as running:
        yield running


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def control(emulator: Emulator) -> AsyncIterator[EmulatorControl]:
    async with EmulatorControl(emulator.root_url) as admin:
        yield admin


class Finished:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1


# Providers the trackers below made: closed after each test (their aiohttp sessions).
OPENED: list[OpenAIProvider] = []


@pytest.fixture(autouse=True)
async def close_providers() -> AsyncIterator[None]:
    yield
    while OPENED:
        await OPENED.pop().close()


def make_tracker(
    store: Store,
    client: openai.AsyncOpenAI,
    clock: FakeClock,
    announced: dict[str, str] | None = None,
) -> Tracker:
    async def no_wait(_seconds: float) -> None:
        return None

    provider = OpenAIProvider(
        "default", client, announced=announced, policy=CallPolicy(retries=6), sleep=no_wait
    )
    OPENED.append(provider)
    return Tracker(
        store,
        provider,
        poll_seconds=1.0,
        on_finished=Finished(),
        price_per_mtok=lambda _model: PRICE,
        clock=clock,
    )


async def start_job(
    client: openai.AsyncOpenAI, store: Store, examples: int = 12, *, tagged: bool = True
) -> str:
    """A job at the emulator, recorded as ftd records the jobs it creates."""
    upload = await client.files.create(
        file=("train.jsonl", chat_dataset(examples), "application/jsonl"), purpose="fine-tune"
    )
    metadata = {INSTANCE_KEY: await store.instance()} if tagged else None
    job = await client.fine_tuning.jobs.create(
        model=MODEL, training_file=upload.id, metadata=metadata
    )
    ds = await store.add_dataset(sha256=job.id, name=f"{job.id}.jsonl", path="/x", size_bytes=1)
    await store.transition(ds.id, "detected", "creating_job")
    assert await store.add_job(
        ds.id,
        expected="creating_job",
        job_id=job.id,
        status=job.status,
        model=MODEL,
        metadata=metadata,
    )
    return job.id


async def run_to_end(tracker: Tracker, store: Store, clock: FakeClock, job_id: str) -> Any:
    for _ in range(400):
        clock.advance(2.0)
        await tracker.cycle()
        row = await store.job(job_id)
        assert row is not None
        ready = row.status != "succeeded" or row.model_ready_at is not None
        caught_up = row.events_cursor is None  # every event read, a page a cycle
        if row.status in ("succeeded", "failed", "cancelled") and ready and caught_up:
            return row
    raise AssertionError(f"{job_id} did not finish")


async def remote_events(client: openai.AsyncOpenAI, job_id: str) -> list[Any]:
    return [e async for e in client.fine_tuning.jobs.list_events(job_id, limit=100)]


@pytest.mark.parametrize("base64_results", [False, True])
async def test_a_whole_life_is_recorded(
    client: openai.AsyncOpenAI,
    control: EmulatorControl,
    store: Store,
    clock: FakeClock,
    base64_results: bool,
) -> None:
    await control.configure(result_files_base64=base64_results)
    tracker = make_tracker(store, client, clock)
    job_id = await start_job(client, store)
    row = await run_to_end(tracker, store, clock, job_id)
    assert row.status == "succeeded"
    assert row.fine_tuned_model.startswith(f"ft:{MODEL}:")
    assert row.trained_tokens > 0
    assert row.cost_usd == round(row.trained_tokens * PRICE / 1e6, 4)
    assert (row.error_code, row.error_message) == (None, None)  # error: {} is no error
    history = [h[1] for h in await store.history("job", row.id)]
    assert history[0] == "validating_files"
    assert history[-1] == "succeeded"
    assert "running" in history

    events = await remote_events(client, job_id)
    stored = await store.job_events(job_id)
    assert sorted(e["event_id"] for e in stored) == sorted(e.id for e in events)
    steps = {e.data["step"] for e in events if e.type == "metrics"}
    metrics = await store.job_metrics(job_id)
    assert {m["step"] for m in metrics} >= steps
    assert {m["source"] for m in metrics} == {"result_file"}  # reconciled with the file
    assert all(m["train_loss"] is not None for m in metrics)
    remote_checkpoints = [
        c async for c in client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)
    ]
    stored_checkpoints = await store.job_checkpoints(job_id)
    assert sorted(c["checkpoint_id"] for c in stored_checkpoints) == sorted(
        c.id for c in remote_checkpoints
    )
    assert row.model_ready_at is not None


async def test_pause_resume_cancel_and_failure(
    client: openai.AsyncOpenAI, control: EmulatorControl, store: Store, clock: FakeClock
) -> None:
    tracker = make_tracker(store, client, clock)
    paused_id = await start_job(client, store, 40)
    await client.fine_tuning.jobs.pause(paused_id)
    await tracker.cycle()
    assert (await store.job(paused_id)).status == "paused"  # type: ignore[union-attr]
    await client.fine_tuning.jobs.resume(paused_id)
    clock.advance(3)
    await tracker.cycle()
    assert (await store.job(paused_id)).status not in ("paused", "cancelled")  # type: ignore[union-attr]
    await client.fine_tuning.jobs.cancel(paused_id)
    await tracker.cycle()
    cancelled = await store.job(paused_id)
    assert cancelled is not None
    assert cancelled.status == "cancelled"
    assert cancelled.finished_at is not None

    await control.configure(job_failure_rate=1.0)
    failing_id = await start_job(client, store)
    failed = await run_to_end(tracker, store, clock, failing_id)
    assert failed.status == "failed"
    assert failed.error_code
    assert failed.error_message
    history = [h[1] for h in await store.history("job", cancelled.id)]
    assert history == ["validating_files", "paused", history[2], "cancelled"]


async def test_no_event_is_stored_twice_across_restarts(
    client: openai.AsyncOpenAI, tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "restart.db"
    store = await Store.open(path)
    job_id = await start_job(client, store, 200)
    tracker = make_tracker(store, client, clock)
    for _ in range(2):
        clock.advance(1.5)
        await tracker.cycle()
    partial = len(await store.job_events(job_id))
    await store.close()

    store = await Store.open(path)  # a new daemon: same database, fresh tracker
    tracker = make_tracker(store, client, clock)
    row = await run_to_end(tracker, store, clock, job_id)
    stored = [e["event_id"] for e in await store.job_events(job_id)]
    assert len(stored) == len(set(stored)) == len(await remote_events(client, job_id))
    assert 0 < partial < len(stored)
    assert row.status == "succeeded"
    await store.close()


@pytest.mark.parametrize("failing", ["events_page", "checkpoints_page"])
async def test_a_job_whose_end_was_committed_without_its_details_is_read_again(
    client: openai.AsyncOpenAI,
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    """The cycle that sees a job end commits its status first: a read that fails after
    that, or a crash, must not leave its last events and checkpoints unread for good."""
    path = tmp_path / "ended.db"
    store = await Store.open(path)
    try:
        job_id = await start_job(client, store, 40)
        tracker = make_tracker(store, client, clock)
        await tracker.cycle()
        clock.advance(24 * 3600)  # the job ends at the provider
        broken = RemoteError("read", "503 overloaded", status=503, kind=TRANSIENT, retryable=True)

        async def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise broken

        monkeypatch.setattr(tracker._providers, failing, refuse)
        await tracker.cycle()
        ended = await store.job(job_id)
        assert ended is not None
        assert ended.status == "succeeded"
    finally:
        await store.close()

    store = await Store.open(path)  # a new daemon, as after a crash at this point
    try:
        tracker = make_tracker(store, client, clock)
        for _ in range(5):
            clock.advance(2.0)
            await tracker.cycle()
        stored = [e["event_id"] for e in await store.job_events(job_id)]
        assert sorted(stored) == sorted(e.id for e in await remote_events(client, job_id))
        remote = [c async for c in client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)]
        assert remote
        checkpoints = await store.job_checkpoints(job_id)
        assert sorted(c["checkpoint_id"] for c in checkpoints) == sorted(c.id for c in remote)
        assert await store.jobs_with_event_gap() == []  # and then left alone
    finally:
        await store.close()


async def test_faults_and_rate_limits_are_survived(
    client: openai.AsyncOpenAI, control: EmulatorControl, store: Store, clock: FakeClock
) -> None:
    tracker = make_tracker(store, client, clock)
    job_id = await start_job(client, store)
    await control.configure(error_rate=0.25, rate_limit_rate=0.15, seed=11)
    row = await run_to_end(tracker, store, clock, job_id)
    await control.configure(error_rate=0.0, rate_limit_rate=0.0)
    assert row.status == "succeeded"
    stats = await control.stats()
    assert stats["statuses"].get("429", 0) + stats["statuses"].get("500", 0) > 0
    stored = [e["event_id"] for e in await store.job_events(job_id)]
    assert sorted(stored) == sorted(e.id for e in await remote_events(client, job_id))


async def test_one_cycle_costs_a_list_page_per_hundred_jobs(
    client: openai.AsyncOpenAI, control: EmulatorControl, store: Store, clock: FakeClock
) -> None:
    tracker = make_tracker(store, client, clock)
    ids = [await start_job(client, store) for _ in range(230)]
    await tracker.cycle()  # the first look reads every job's events once
    clock.advance(0.01)
    await control.reset_stats()
    await tracker.cycle()
    figures = tracker.last_cycle
    stats = (await control.stats())["requests"]
    budget = 2 * math.ceil(len(ids) / 100) + figures["changed"]
    sent = sum(stats.values())
    assert figures["list"] <= math.ceil(len(ids) / 100)
    assert figures["retrieve"] == 0
    assert sent == sum(v for k, v in figures.items() if k not in ("jobs", "changed"))
    assert sent <= budget, (stats, figures)
    # Per-job polling would have sent one retrieve per job, and events besides.
    assert sent < len(ids) / 10


async def test_a_new_model_is_probed_until_it_answers(
    client: openai.AsyncOpenAI, control: EmulatorControl, store: Store, clock: FakeClock
) -> None:
    await control.configure(model_ready_delay=60.0)
    tracker = make_tracker(store, client, clock)
    job_id = await start_job(client, store)
    for _ in range(400):
        clock.advance(2.0)
        await tracker.cycle()
        row = await store.job(job_id)
        assert row is not None
        if row.status == "succeeded":
            break
    row = await store.job(job_id)
    assert row is not None
    assert row.status == "succeeded"
    assert row.model_ready_at is None  # 404 for now
    clock.advance(61.0)
    await tracker.cycle()
    ready = await store.job(job_id)
    assert ready is not None
    assert ready.model_ready_at is not None


async def test_a_job_made_elsewhere_is_adopted_and_followed(
    client: openai.AsyncOpenAI, store: Store, clock: FakeClock
) -> None:
    upload = await client.files.create(
        file=("t.jsonl", chat_dataset(12), "application/jsonl"), purpose="fine-tune"
    )
    job = await client.fine_tuning.jobs.create(model=MODEL, training_file=upload.id)
    tracker = make_tracker(store, client, clock)
    assert await tracker.adopt(job.id)
    assert not await tracker.adopt(job.id)
    row = await run_to_end(tracker, store, clock, job.id)
    assert (row.status, row.adopted, row.dataset_id) == ("succeeded", 1, None)
    assert tracker.last_cycle["retrieve"] >= 1  # not in the tagged list: asked by id


async def test_retiring_base_models_are_warned_about(
    client: openai.AsyncOpenAI, store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await start_job(client, store)
    # An OpenAI profile is given the dates OpenAI announced (the catalogue's).
    tracker = make_tracker(store, client, clock, announced=catalog.shutdown_dates())
    shutdown = catalog.shutdown_dates()[MODEL]
    assert shutdown == "2027-01-14"
    assert await tracker.check_retirements(datetime.date(2027, 1, 1)) == {MODEL: shutdown}
    assert await tracker.check_retirements(datetime.date(2026, 10, 1)) == {}
    # A compatible server announces nothing: its models are not OpenAI's to retire.
    unannounced = make_tracker(store, client, clock)
    assert await unannounced.check_retirements(datetime.date(2027, 1, 1)) == {}


async def test_a_steady_job_is_read_a_page_a_cycle_without_losing_events(
    client: openai.AsyncOpenAI, store: Store, clock: FakeClock
) -> None:
    tracker = make_tracker(store, client, clock)
    job_id = await start_job(client, store, 400)
    clock.advance(3.0)
    await tracker.cycle()  # new and changed: read to the newest event
    row = await store.job(job_id)
    assert row is not None
    assert row.status == "running"
    clock.advance(12.0)  # hundreds of steps while nothing else changes
    events_pages = []
    for _ in range(10):
        await tracker.cycle()
        events_pages.append(tracker.last_cycle["events"])
        row = await store.job(job_id)
        assert row is not None
        if row.events_cursor is None and events_pages[-1] == 1 and len(events_pages) > 1:
            break
    assert set(events_pages) == {1}  # one page per cycle for a steady job
    assert len(events_pages) >= 4  # so a gap was left, and closed, a page at a time
    assert row.status == "running"
    stored = [e["event_id"] for e in await store.job_events(job_id)]
    assert len(stored) == len(set(stored))
    # in the provider's sequence, though the gap's pages came after newer ones
    assert stored == [e.id for e in reversed(await remote_events(client, job_id))]


async def test_a_page_names_the_stored_event_its_oldest_new_event_follows() -> None:
    def event(event_id: str) -> JobEvent:
        return JobEvent(event_id, 100, "info", "message", event_id)

    newest_first = [event("e4"), event("e3"), event("e2"), event("e1")]
    # a page that meets what is stored: its oldest new event follows the newest stored
    assert _anchors(newest_first, {"e2", "e1"}, more=True) == {"e3": "e2"}
    # a last page that meets nothing stored ends at the job's first event
    assert _anchors(newest_first, set(), more=False) == {"e1": ""}
    # a page in the middle of a gap says nothing of what comes before it
    assert _anchors(newest_first, set(), more=True) == {}
    # a page whose newest event is already stored brings nothing new to place
    assert _anchors(newest_first, {"e4", "e3", "e2", "e1"}, more=True) == {}


async def test_events_that_came_while_a_gap_was_closed_are_read_after_the_job_ended(
    client: openai.AsyncOpenAI, store: Store, clock: FakeClock
) -> None:
    """A read that closes a gap spends its page on older events; the newer ones that came
    meanwhile must still be read, even once the job has ended and is no longer polled."""
    tracker = make_tracker(store, client, clock)
    job_id = await start_job(client, store, 400)
    clock.advance(3.0)
    await tracker.cycle()  # new: its first events
    clock.advance(12.0)  # hundreds of events since
    await tracker.cycle()
    row = await store.job(job_id)
    assert row is not None
    assert row.events_cursor  # a gap was left
    clock.advance(24 * 3600)  # the job ends, with hundreds of events more
    for _ in range(40):  # a page a cycle
        clock.advance(1.0)
        await tracker.cycle()
        row = await store.job(job_id)
        assert row is not None
        if row.events_cursor is None:
            break
    assert row.status == "succeeded"
    assert row.events_cursor is None
    stored = [e["event_id"] for e in await store.job_events(job_id)]
    assert stored == [e.id for e in reversed(await remote_events(client, job_id))]


async def test_intervals_come_sooner_for_new_ending_or_lagging_jobs(
    store: Store, client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    from ftd.store import JobRow

    tracker = make_tracker(store, client, clock)
    base: dict[str, Any] = dict.fromkeys(f.name for f in dataclasses.fields(JobRow))
    base.update(id=1, job_id="j", status="running", model=MODEL, adopted=0)

    def job(**fields: Any) -> JobRow:
        return JobRow(**{**base, "created_at": clock.now - 3600, **fields})

    def around(value: float, target: float) -> bool:
        return target * 0.89 <= value <= target * 1.11  # ten per cent of jitter

    assert around(tracker.interval([job()]), 1.0)
    assert around(tracker.interval([job(status="queued")]), 2.0)
    assert around(tracker.interval([job(created_at=clock.now - 5)]), 1 / 3)
    assert around(tracker.interval([job(estimated_finish=clock.now + 0.5)]), 1 / 3)
    assert around(tracker.interval([job(status="queued", events_cursor="ftevent-1")]), 1 / 3)


async def test_a_mass_change_reads_events_in_capped_turns(
    client: openai.AsyncOpenAI,
    store: Store,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ftd.tracker.CHANGED_READS", 2)
    tracker = make_tracker(store, client, clock)
    ids = [await start_job(client, store) for _ in range(5)]
    clock.advance(30.0)  # every job moves on at once
    await tracker.cycle()
    first = tracker.last_cycle
    assert first["changed"] == len(ids)
    # Two changed jobs and the one steady read of the budget (ceil(5 / 100)).
    assert first["events"] <= 2 + 1
    rows = {r.job_id: r for r in await store.jobs()}
    owed = [j for j in ids if rows[j].events_cursor == ""]
    assert len(owed) >= len(ids) - 2
    # Least recently read first: every job has been read within a few cycles (the jobs
    # have ended, so the budget is one read a cycle).
    read_once: set[str] = {j for j in ids if rows[j].details_at is not None}
    for _ in range(len(ids) - 2):
        clock.advance(0.01)
        await tracker.cycle()
        assert tracker.last_cycle["events"] <= 2 + 1 + tracker.last_cycle["changed"]
        read_once |= {r.job_id for r in await store.jobs() if r.details_at is not None}
    assert read_once == set(ids)
    for job_id in ids:
        row = await run_to_end(tracker, store, clock, job_id)
        stored = [e["event_id"] for e in await store.job_events(row.job_id)]
        assert sorted(stored) == sorted(e.id for e in await remote_events(client, job_id))


async def test_jobs_the_list_does_not_show_are_asked_for_a_few_a_cycle_in_turn(
    client: openai.AsyncOpenAI, store: Store, clock: FakeClock
) -> None:
    # Untagged: the tagged list never shows them, so each is asked for by id.
    ids = [await start_job(client, store, tagged=False) for _ in range(3)]
    first = {r.job_id: r.status for r in await store.jobs()}
    tracker = make_tracker(store, client, clock)
    clock.advance(30.0)  # every job has moved on at the emulator
    moved: set[str] = set()
    for _ in ids:
        await tracker.cycle()
        assert tracker.last_cycle["retrieve"] == math.ceil(len(ids) / 100)
        clock.advance(0.01)
        moved |= {r.job_id for r in await store.jobs() if r.status != first[r.job_id]}
    assert moved == set(ids)  # each asked in its turn, none twice while another waits


async def test_a_status_is_committed_with_its_page_before_the_walk_goes_on(
    tmp_path: Path,
) -> None:
    """At 10,000 jobs the walk is 100 pages: a change must not wait for the last one."""
    from ftd.providers.types import RemoteJob
    from tests.providers.test_core import Scripted

    store = await Store.open(tmp_path / "ftd.db")
    instance = await store.instance()
    for job_id in ("ftjob-b", "ftjob-a"):
        assert await store.adopt_job(job_id, "queued", MODEL, {INSTANCE_KEY: instance})
    seen_while_walking: list[str | None] = []

    class Walk(Scripted):
        async def _op_jobs_page(
            self, metadata: dict[str, str], after: str | None, limit: int
        ) -> tuple[list[RemoteJob], bool]:
            if after is not None:  # the second page: what does the first one's job say?
                row = await store.job("ftjob-a")
                seen_while_walking.append(None if row is None else row.status)
            return await super()._op_jobs_page(metadata, after, limit)

        async def _op_events_page(
            self, job_id: str, after: str | None, limit: int
        ) -> tuple[list[JobEvent], bool]:
            return [], False

    def running(job_id: str) -> RemoteJob:
        return RemoteJob(
            id=job_id, status="running", model=MODEL, metadata={INSTANCE_KEY: instance}
        )

    provider = Walk([([running("ftjob-a")], True), ([running("ftjob-b")], False)])
    tracker = Tracker(store, provider, poll_seconds=1.0, on_finished=Finished())
    await tracker.cycle()
    assert seen_while_walking == ["running"]
    assert [(j.job_id, j.status) for j in await store.jobs()] == [
        ("ftjob-b", "running"),
        ("ftjob-a", "running"),
    ]
    assert tracker.last_cycle["changed"] == 2
    await store.close()


async def test_a_job_passed_over_as_unchanged_is_one_its_update_would_leave_as_it_is(
    store: Store, client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """The list walk skips building updates for jobs that did not move: never one that did."""
    from ftd.providers.types import JobError, RemoteJob
    from ftd.store import JobRow

    tracker = make_tracker(store, client, clock)
    base: dict[str, Any] = dict.fromkeys(f.name for f in dataclasses.fields(JobRow))
    base.update(id=1, job_id="j", status="running", model=MODEL, adopted=0, created_at=1.0)
    rows = [
        JobRow(**base),
        JobRow(**{**base, "estimated_finish": 500.0, "trained_tokens": 40}),
        JobRow(**{**base, "status": "failed", "error_code": "bad", "finished_at": 9.0}),
        JobRow(**{**base, "status": "succeeded", "result_files": ["f-1"], "finished_at": 9.0}),
    ]
    views = [
        RemoteJob(id="j", status=status, model=MODEL, **extra)
        for status in ("running", "failed", "succeeded")
        for extra in (
            {},
            {"estimated_finish": 500.0, "trained_tokens": 40},
            {"estimated_finish": 500},  # a whole number of seconds, as a provider may send
            {"estimated_finish": 0.0},  # no estimate
            {"trained_tokens": 41},
            {"fine_tuned_model": "ft:m"},
            {"error": JobError("bad", "it broke", None)},
            {"error": JobError("", "no code", None)},
            {"result_files": ("f-1",)},
            {"result_files": ("f-2",)},
        )
    ]
    skipped = 0
    for row in rows:
        for job in views:
            same = not _differs(row, tracker._update(row, job))
            assert _unchanged(row, job) == same, (row, job)
            skipped += same
    assert 0 < skipped < len(rows) * len(views)
