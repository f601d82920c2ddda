"""``--state``: files, uploads and jobs survive a restart, and jobs keep progressing."""

from __future__ import annotations

import base64
from pathlib import Path

import openai
import pytest

from ftd.emulator.control import EmulatorControl
from ftd.emulator.process import EmulatorProcess
from tests.emulator.conftest import StartEmulator
from tests.emulator.helpers import FakeClock, chat_dataset, finish, upload

pytestmark = pytest.mark.anyio
MODEL = "gpt-4.1-mini-2025-04-14"


async def test_state_survives_a_restart(start_emulator: StartEmulator, tmp_path: Path) -> None:
    state = tmp_path / "emulator.db"
    clock = FakeClock()
    content = chat_dataset(12)
    async with (
        start_emulator(clock=clock, state_path=state) as emulator,
        openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as sdk,
    ):
        training = await upload(sdk, content)
        job = await sdk.fine_tuning.jobs.create(
            model=MODEL, training_file=training, metadata={"ds": "x"}
        )
        paused = await sdk.fine_tuning.jobs.create(model=MODEL, training_file=training)
        await sdk.fine_tuning.jobs.pause(paused.id)
        upload_obj = await sdk.uploads.create(
            bytes=6, filename="u.jsonl", mime_type="text/jsonl", purpose="fine-tune"
        )
        part = await sdk.uploads.parts.create(upload_id=upload_obj.id, data=b"abcdef")
        clock.advance(1.5)
        assert (await sdk.fine_tuning.jobs.retrieve(job.id)).status == "queued"
    assert state.exists()

    clock.advance(30)  # the clock keeps running while the emulator is down
    async with (
        start_emulator(clock=clock, state_path=state) as emulator,
        openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as sdk,
    ):
        assert [f.id async for f in sdk.files.list(purpose="fine-tune")] == [training]
        assert (await sdk.files.content(training)).content == content
        revived = await sdk.fine_tuning.jobs.retrieve(job.id)
        assert revived.status == "succeeded"
        assert revived.metadata == {"ds": "x"}
        result = (await sdk.files.content(revived.result_files[0])).content
        assert base64.b64decode(result).startswith(b"step,")
        assert str((await sdk.fine_tuning.jobs.retrieve(paused.id)).status) == "paused"
        await sdk.fine_tuning.jobs.resume(paused.id)
        assert (await finish(sdk, clock, paused.id)).status == "succeeded"
        done = await sdk.uploads.complete(upload_id=upload_obj.id, part_ids=[part.id])
        assert done.file is not None
        assert (await sdk.files.content(done.file.id)).content == b"abcdef"
        model = revived.fine_tuned_model
        assert model is not None
        answer = await sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "What is 4 plus 4?"}]
        )
        assert answer.choices[0].message.content == "4 plus 4 is 8."
        await sdk.models.delete(model)
    async with (
        start_emulator(clock=clock, state_path=state) as emulator,
        openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as sdk,
    ):
        with pytest.raises(openai.NotFoundError):
            await sdk.models.retrieve(model)
        assert len((await sdk.fine_tuning.jobs.list()).data) == 2


@pytest.mark.timeout(60)
async def test_a_killed_process_forgets_nothing(tmp_path: Path) -> None:
    state = tmp_path / "crash.db"
    args = ("--state", str(state), "--speed", "20")
    async with EmulatorProcess(*args) as first:
        async with openai.AsyncOpenAI(base_url=first.base_url, api_key="k", max_retries=0) as sdk:
            training = await upload(sdk, chat_dataset(10))
            job = await sdk.fine_tuning.jobs.create(model=MODEL, training_file=training)
        first.kill()
    async with EmulatorProcess(*args) as second:
        async with openai.AsyncOpenAI(base_url=second.base_url, api_key="k", max_retries=0) as sdk:
            assert (await sdk.files.retrieve(training)).bytes == len(chat_dataset(10))
            for _ in range(100):
                status = (await sdk.fine_tuning.jobs.retrieve(job.id)).status
                if status == "succeeded":
                    break
                await _sleep(0.1)
            assert status == "succeeded"
        async with EmulatorControl(second.root_url) as control:
            assert (await control.state())["jobs"] == {"succeeded": 1}


async def _sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


async def test_a_restart_lists_the_same_pages_by_filter_and_cursor(
    start_emulator: StartEmulator, tmp_path: Path
) -> None:
    """The list index is rebuilt from the journal: same order, same filters, same cursors,
    and a job created after the restart comes first."""
    state = tmp_path / "emulator.db"
    clock = FakeClock()

    async def pages(sdk: openai.AsyncOpenAI, tag: str) -> list[list[str]]:
        found, after = [], None
        while True:
            page = await sdk.fine_tuning.jobs.list(
                limit=2, metadata={"ds": tag}, after=after or openai.omit
            )
            found.append([j.id for j in page.data])
            if not page.has_more:
                return found
            after = page.data[-1].id

    async with (
        start_emulator(clock=clock, state_path=state) as emulator,
        openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as sdk,
    ):
        training = await upload(sdk, chat_dataset(10))
        for n in range(7):
            await sdk.fine_tuning.jobs.create(
                model=MODEL, training_file=training, metadata={"ds": "ab"[n % 2]}
            )
        before = await pages(sdk, "a")
    assert [len(p) for p in before] == [2, 2]
    async with (
        start_emulator(clock=clock, state_path=state) as emulator,
        openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as sdk,
    ):
        assert await pages(sdk, "a") == before
        newest = await sdk.fine_tuning.jobs.create(
            model=MODEL, training_file=training, metadata={"ds": "a"}
        )
        after = await pages(sdk, "a")
    assert [j for p in after for j in p] == [newest.id, *(j for p in before for j in p)]
