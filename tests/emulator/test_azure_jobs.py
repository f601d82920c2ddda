"""Fine-tuning jobs on the Azure flavour: ids, tiers, suffixes, pause rules, shapes."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import openai
import pytest

from ftd.emulator.control import EmulatorControl
from tests.emulator.azure_support import (
    BASE,
    KEY,
    azure_emulator,
    finish,
    until_trained,
    upload,
    v1_client,
    versioned_client,
)
from tests.emulator.helpers import FakeClock

pytestmark = pytest.mark.anyio

HEX32 = "[0-9a-f]{32}"
# At speed 1 a small job validates for about 1 s and queues for 1 s; steps take 0.03 s.
BEFORE_FIRST_STEP_S = 2.01


def word(value: object) -> str:
    """A status or level the SDK types as OpenAI's literals, which Azure's words are not."""
    return str(value)


async def _admin(root_url: str, path: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(root_url + path) as response:
        assert response.status == 200
        return await response.json()


async def test_a_jobs_whole_life_carries_azure_ids() -> None:
    clock = FakeClock()
    async with azure_emulator(clock=clock) as emulator, v1_client(emulator) as client:
        training = await upload(client)
        assert re.fullmatch(f"file-{HEX32}", training)
        job = await client.fine_tuning.jobs.create(
            model=BASE,
            training_file=training,
            suffix="my-run",
            extra_body={"trainingType": "globalStandard"},
        )
        assert re.fullmatch(f"ftjob-{HEX32}", job.id)
        assert job.status == "validating_files"
        assert job.fine_tuned_model is None
        assert (job.model_extra or {})["trainingType"] == "globalStandard"
        done = await finish(client, clock, job.id)
        assert done.status == "succeeded"
        hex_id = job.id.removeprefix("ftjob-")
        assert done.fine_tuned_model == f"{BASE}.ft-{hex_id}-my-run"
        assert done.result_files
        assert re.fullmatch(f"file-{HEX32}", done.result_files[0])
        result = await client.files.content(done.result_files[0])
        assert result.content.startswith(b"step,")

        events = await client.fine_tuning.jobs.list_events(job.id, limit=100)
        assert events.data[0].message == "Job succeeded."
        assert all(e.id.startswith(f"ftevent-{hex_id[:16]}") for e in events.data)
        older = await client.fine_tuning.jobs.list_events(job.id, after=events.data[1].id, limit=1)
        assert older.data[0].id == events.data[2].id

        checkpoints = (await client.fine_tuning.jobs.checkpoints.list(job.id)).data
        assert [c.step_number for c in checkpoints] == sorted(
            (c.step_number for c in checkpoints), reverse=True
        )
        assert len(checkpoints) == 3
        for checkpoint in checkpoints:
            assert re.fullmatch(f"ftchkpt-{hex_id}\\d{{8}}", checkpoint.id)
        assert checkpoints[0].fine_tuned_model_checkpoint == done.fine_tuned_model
        for checkpoint in checkpoints[1:]:
            assert checkpoint.fine_tuned_model_checkpoint == (
                f"{done.fine_tuned_model}:ckpt-step-{checkpoint.step_number}"
            )
        page = await client.fine_tuning.jobs.checkpoints.list(job.id, after=checkpoints[0].id)
        assert [c.id for c in page.data] == [c.id for c in checkpoints[1:]]

        models = {m.id for m in (await client.models.list()).data}
        assert done.fine_tuned_model in models
        assert BASE in models
        model = await client.models.retrieve(done.fine_tuned_model)
        assert model.id == done.fine_tuned_model
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve(f"ft:{BASE}:org::abc")


async def test_a_suffix_longer_than_40_characters_is_refused() -> None:
    async with azure_emulator() as emulator, v1_client(emulator) as client:
        training = await upload(client)
        with pytest.raises(openai.BadRequestError) as caught:
            await client.fine_tuning.jobs.create(
                model=BASE, training_file=training, suffix="s" * 41
            )
        assert caught.value.param == "suffix"
        assert "40" in caught.value.message
        with pytest.raises(openai.BadRequestError) as bad_chars:
            await client.fine_tuning.jobs.create(
                model=BASE, training_file=training, suffix="no spaces"
            )
        assert bad_chars.value.param == "suffix"
        job = await client.fine_tuning.jobs.create(
            model=BASE, training_file=training, suffix="s" * 40
        )
        assert (job.model_extra or {})["user_provided_suffix"] == "s" * 40


async def test_training_type_is_accepted_stored_and_checked() -> None:
    async with (
        azure_emulator() as emulator,
        v1_client(emulator) as client,
        versioned_client(emulator) as versioned,
    ):
        training = await upload(client)
        made = {}
        for tier in ("globalStandard", "standard", "developerTier"):
            job = await client.fine_tuning.jobs.create(
                model=BASE, training_file=training, extra_body={"trainingType": tier}
            )
            made[job.id] = tier
        plain = await client.fine_tuning.jobs.create(model=BASE, training_file=training)
        for job_id, tier in made.items():
            v1_job = await client.fine_tuning.jobs.retrieve(job_id)
            versioned_job = await versioned.fine_tuning.jobs.retrieve(job_id)
            assert (v1_job.model_extra or {})["trainingType"] == tier
            assert (versioned_job.model_extra or {})["trainingType"] == tier
        assert (await client.fine_tuning.jobs.retrieve(plain.id)).model_extra == {
            "trainingType": None,
            "user_provided_suffix": None,
        }
        stored = await _admin(emulator.root_url, "/_emulator/azure_jobs")
        assert {k: v["trainingType"] for k, v in stored.items()} == {**made, plain.id: None}
        with pytest.raises(openai.BadRequestError) as caught:
            await client.fine_tuning.jobs.create(
                model=BASE, training_file=training, extra_body={"trainingType": "premium"}
            )
        assert caught.value.param == "trainingType"
        with pytest.raises(openai.BadRequestError):  # still no other unknown field
            await client.fine_tuning.jobs.create(
                model=BASE, training_file=training, extra_body={"tier": "standard"}
            )


async def test_pause_needs_a_running_job_that_has_trained_a_step() -> None:
    clock = FakeClock()
    async with azure_emulator(clock=clock) as emulator, v1_client(emulator) as client:
        jobs = client.fine_tuning.jobs
        job = await jobs.create(model=BASE, training_file=await upload(client))
        with pytest.raises(openai.BadRequestError) as validating:
            await jobs.pause(job.id)
        assert "only a running job can be paused" in validating.value.message
        clock.advance(BEFORE_FIRST_STEP_S)
        assert (await jobs.retrieve(job.id)).status == "running"
        with pytest.raises(openai.BadRequestError) as no_step:
            await jobs.pause(job.id)
        assert "has not completed a training step" in no_step.value.message
        assert no_step.value.code == "invalid_job_state"
        clock.advance(0.05)
        paused = await jobs.pause(job.id)
        assert word(paused.status) == "paused"
        with pytest.raises(openai.BadRequestError):
            await jobs.pause(job.id)
        resumed = await jobs.resume(job.id)
        assert resumed.status == "running"
        events = await jobs.list_events(job.id, limit=2)
        assert [e.message for e in events.data] == ["Job resumed.", "Job paused."]
        cancelled = await jobs.cancel(job.id)
        assert cancelled.status == "cancelled"
        with pytest.raises(openai.BadRequestError):
            await jobs.pause(job.id)


async def test_the_service_pauses_and_resumes_developer_tier_jobs() -> None:
    clock = FakeClock()
    async with (
        azure_emulator(clock=clock, developer_tier_pause_seconds=100) as emulator,
        v1_client(emulator) as client,
        versioned_client(emulator) as versioned,
    ):
        training = await upload(client)
        jobs = client.fine_tuning.jobs
        developer = await jobs.create(
            model=BASE, training_file=training, extra_body={"trainingType": "developerTier"}
        )
        standard = await jobs.create(
            model=BASE, training_file=training, extra_body={"trainingType": "standard"}
        )
        clock.advance(BEFORE_FIRST_STEP_S + 0.1)
        assert word((await jobs.retrieve(developer.id)).status) == "paused"
        assert (await jobs.retrieve(standard.id)).status == "running"
        latest = (await jobs.list_events(developer.id, limit=1)).data[0]
        assert (latest.level, latest.message.startswith("Job paused by the service")) == (
            "warn",
            True,
        )
        versioned_latest = (await versioned.fine_tuning.jobs.list_events(developer.id)).data[0]
        assert word(versioned_latest.level) == "warning"
        clock.advance(99)
        assert word((await jobs.retrieve(developer.id)).status) == "paused"
        clock.advance(2)
        assert (await jobs.retrieve(developer.id)).status == "running"
        messages = [e.message for e in (await jobs.list_events(developer.id, limit=100)).data]
        resumed = messages.index("Job resumed.")
        assert messages[resumed + 1].startswith("Job paused by the service")
        done = await finish(client, clock, developer.id)
        assert done.status == "succeeded"
        record = (await _admin(emulator.root_url, "/_emulator/azure_jobs"))[developer.id]
        assert record["service_resumed"] is True


async def test_developer_tier_jobs_run_through_when_the_knob_is_off() -> None:
    clock = FakeClock()
    async with azure_emulator(clock=clock) as emulator, v1_client(emulator) as client:
        job = await client.fine_tuning.jobs.create(
            model=BASE,
            training_file=await upload(client),
            extra_body={"trainingType": "developerTier"},
        )
        await until_trained(client, clock, job.id)
        done = await finish(client, clock, job.id)
        events = await client.fine_tuning.jobs.list_events(job.id, limit=1000)
        assert done.status == "succeeded"
        assert not [e for e in events.data if e.level != "info"]


async def test_job_lists_page_by_after_and_limit_and_ignore_a_metadata_filter() -> None:
    async with azure_emulator() as emulator, v1_client(emulator) as client:
        training = await upload(client)
        made = [
            await client.fine_tuning.jobs.create(
                model=BASE, training_file=training, metadata={"tag": f"t{i}"}
            )
            for i in range(3)
        ]
        first = await client.fine_tuning.jobs.list(limit=2)
        assert [j.id for j in first.data] == [made[2].id, made[1].id]
        assert first.has_more is True
        rest = await client.fine_tuning.jobs.list(limit=2, after=first.data[-1].id)
        assert [j.id for j in rest.data] == [made[0].id]
        assert rest.has_more is False
        # Neither Azure spec has a metadata filter on the job list: it is not applied.
        filtered = await client.fine_tuning.jobs.list(metadata={"tag": "t1"})
        assert {j.id for j in filtered.data} == {j.id for j in made}
        assert {j.metadata["tag"] for j in filtered.data if j.metadata} == {"t0", "t1", "t2"}


async def test_status_words_follow_each_shape() -> None:
    clock = FakeClock()
    async with (
        azure_emulator(clock=clock) as emulator,
        v1_client(emulator) as client,
        versioned_client(emulator) as versioned,
    ):
        job = await client.fine_tuning.jobs.create(model=BASE, training_file=await upload(client))
        assert word((await versioned.fine_tuning.jobs.retrieve(job.id)).status) == "pending"
        clock.advance(1.5)
        assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "queued"
        assert word((await versioned.fine_tuning.jobs.retrieve(job.id)).status) == "pending"
        created = await versioned.fine_tuning.jobs.with_raw_response.create(
            model=BASE, training_file=job.training_file
        )
        assert created.status_code == 201
        assert created.headers["location"].endswith(
            f"/openai/fine_tuning/jobs/{created.parse().id}"
        )


async def test_a_missing_key_never_reaches_the_job_service() -> None:
    async with azure_emulator() as emulator, aiohttp.ClientSession() as session:
        async with session.post(
            f"{emulator.base_url}/fine_tuning/jobs", json={"model": BASE, "training_file": "x"}
        ) as response:
            assert response.status == 401
        state = await _admin(emulator.root_url, "/_emulator/state")
        assert state["jobs"] == {}
        async with session.get(
            f"{emulator.base_url}/fine_tuning/jobs", headers={"api-key": KEY}
        ) as response:
            assert (await response.json())["data"] == []


async def test_a_service_pause_ends_when_the_knob_is_turned_off() -> None:
    clock = FakeClock()
    async with (
        azure_emulator(clock=clock, developer_tier_pause_seconds=3600) as emulator,
        v1_client(emulator) as client,
        EmulatorControl(emulator.root_url) as control,
    ):
        job = await client.fine_tuning.jobs.create(
            model=BASE,
            training_file=await upload(client),
            extra_body={"trainingType": "developerTier"},
        )
        clock.advance(BEFORE_FIRST_STEP_S + 0.1)
        assert word((await client.fine_tuning.jobs.retrieve(job.id)).status) == "paused"
        await control.configure(developer_tier_pause_seconds=0)
        assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "running"
        assert (await finish(client, clock, job.id)).status == "succeeded"
