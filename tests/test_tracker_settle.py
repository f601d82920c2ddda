"""A job first recorded already ended (adopted finished, or found so after a crash) is settled
like one followed to its end: its model, trained tokens, metrics, checkpoints, result file."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from ftd.emulator.server import Emulator
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from ftd.store import Store
from ftd.tags import INSTANCE_KEY
from ftd.tracker import Tracker
from tests.emulator.helpers import FakeClock, chat_dataset
from tests.test_tracker import MODEL, PRICE, Finished, close_providers, make_tracker

pytestmark = pytest.mark.anyio
__all__ = ["close_providers"]  # the autouse fixture that closes the trackers' providers


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(clock: FakeClock) -> AsyncIterator[openai.AsyncOpenAI]:
    settings = EmulatorSettings(runtime=RuntimeConfig(seed=3, retry_after_ms=1))
    async with (
        Emulator(settings, clock=clock) as running,
        openai.AsyncOpenAI(base_url=running.base_url, api_key="k", max_retries=0) as sdk,
    ):
        yield sdk


async def finished_remotely(client: openai.AsyncOpenAI, clock: FakeClock, **create: object) -> str:
    upload = await client.files.create(
        file=("t.jsonl", chat_dataset(12), "application/jsonl"), purpose="fine-tune"
    )
    job = await client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=upload.id,
        **create,  # type: ignore[arg-type]
    )
    for _ in range(2000):
        clock.advance(5.0)
        if (await client.fine_tuning.jobs.retrieve(job.id)).status == "succeeded":
            return job.id
    raise AssertionError("the emulator's job did not finish")


async def settle(tracker: Tracker, store: Store, clock: FakeClock, job_id: str) -> None:
    for _ in range(20):
        clock.advance(2.0)
        await tracker.cycle()
        row = await store.job(job_id)
        assert row is not None
        if row.finished_at is not None and row.results_parsed_at and row.model_ready_at:
            return


async def check_settled(store: Store, job_id: str, finished: Finished) -> None:
    row = await store.job(job_id)
    assert row is not None
    assert row.status == "succeeded"
    assert row.fine_tuned_model is not None
    assert row.fine_tuned_model.startswith(f"ft:{MODEL}:")
    assert row.trained_tokens is not None
    assert row.trained_tokens > 0
    assert row.cost_usd == round(row.trained_tokens * PRICE / 1e6, 4)
    assert row.finished_at is not None
    assert row.results_parsed_at is not None
    assert row.model_ready_at is not None
    metrics = await store.job_metrics(job_id)
    assert metrics
    assert {m["source"] for m in metrics} == {"result_file"}
    assert await store.job_checkpoints(job_id)
    assert await store.job_events(job_id)
    assert finished.calls >= 1  # what follows an end (evaluation, notices) is told
    assert await store.unsettled_jobs() == []


async def test_a_job_adopted_after_it_finished_gets_its_model_metrics_and_results(
    client: openai.AsyncOpenAI, store: Store, clock: FakeClock
) -> None:
    job_id = await finished_remotely(client, clock)
    tracker = make_tracker(store, client, clock)
    assert await tracker.adopt(job_id)
    row = await store.job(job_id)
    assert row is not None
    assert (row.status, row.fine_tuned_model) == ("succeeded", None)  # as adopted, unsettled
    await settle(tracker, store, clock, job_id)
    finished = tracker._on_finished
    assert isinstance(finished, Finished)
    await check_settled(store, job_id, finished)


async def test_a_job_found_finished_after_a_crash_is_settled(
    client: openai.AsyncOpenAI, store: Store, clock: FakeClock
) -> None:
    metadata = {INSTANCE_KEY: await store.instance()}
    job_id = await finished_remotely(client, clock, metadata=metadata)
    ds = await store.add_dataset(sha256=job_id, name="d.jsonl", path="/x", size_bytes=1)
    await store.transition(ds.id, "detected", "creating_job")
    # What the submitter records when its tag finds a job that ended while ftd was down.
    assert await store.add_job(
        ds.id,
        expected="creating_job",
        job_id=job_id,
        status="succeeded",
        model=MODEL,
        metadata=metadata,
    )
    tracker = make_tracker(store, client, clock)
    await settle(tracker, store, clock, job_id)
    finished = tracker._on_finished
    assert isinstance(finished, Finished)
    await check_settled(store, job_id, finished)
