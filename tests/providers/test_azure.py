"""The Azure adapter against the Azure flavour of the emulator, in process."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ftd.config import load_settings
from ftd.errors import RemoteError
from ftd.providers import JobRequest, Provider
from ftd.providers.kinds import NOT_FOUND, NOT_READY
from ftd.providers.registry import open_provider
from tests.emulator.azure_support import BASE, azure_emulator
from tests.emulator.helpers import FakeClock, chat_dataset

pytestmark = pytest.mark.anyio
TOKEN_ENV = "FTD_TEST_ARM_TOKEN"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def provider(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Provider]:
    monkeypatch.setenv(TOKEN_ENV, "arm-token")
    # Real time on the fake clock: provisioned after 60 s, not ready for 30 s more.
    async with azure_emulator(clock=clock, speed=1) as emulator:
        env = {"HOME": str(tmp_path), "AZURE_OPENAI_API_KEY": "az-key"}
        azure: dict[str, Any] = {
            "endpoint": emulator.root_url,
            "use_v1_path": True,
            "management_url": emulator.root_url,
            "management_auth": "token",
            "management_token_env": TOKEN_ENV,
            "subscription_id": "sub",
            "resource_group": "rg",
            "account": "acct",
        }
        settings = load_settings(env=env, overrides={"provider": {"kind": "azure", "azure": azure}})
        adapter = open_provider("default", settings.provider)
        yield adapter
        await adapter.close()


async def upload(provider: Provider, tmp_path: Path) -> str:
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_dataset(12))
    return (await provider.upload(path, "ftd-abc-train.jsonl")).id


async def test_a_job_is_found_again_by_its_own_tag_without_a_server_filter(
    provider: Provider, tmp_path: Path
) -> None:
    assert not provider.capabilities.metadata_filter
    training = await upload(provider, tmp_path)
    ours = await provider.create_job(
        JobRequest(model=BASE, training_file=training, metadata={"ftd_tag": "abc"})
    )
    for other in ("zzz", "yyy"):
        await provider.create_job(
            JobRequest(model=BASE, training_file=training, metadata={"ftd_tag": other})
        )
    found = await provider.find_jobs("ftd_tag", "abc")
    assert [job.id for job in found] == [ours.id]
    assert ours.id.startswith("ftjob-")


async def test_the_training_tier_reaches_azure(provider: Provider, tmp_path: Path) -> None:
    training = await upload(provider, tmp_path)
    job = await provider.create_job(
        JobRequest(
            model=BASE,
            training_file=training,
            metadata={},
            extra={"training_type": "developerTier"},
        )
    )
    raw = await provider._client.fine_tuning.jobs.retrieve(job.id)  # type: ignore[attr-defined]
    assert (raw.model_extra or {}).get("trainingType") == "developerTier"


async def test_a_suffix_over_forty_characters_is_refused_before_sending(
    provider: Provider, tmp_path: Path
) -> None:
    training = await upload(provider, tmp_path)
    with pytest.raises(RemoteError) as refused:
        await provider.create_job(
            JobRequest(model=BASE, training_file=training, metadata={}, suffix="x" * 41)
        )
    assert "40 characters" in str(refused.value)


async def test_a_deployment_is_made_answers_only_when_ready_and_goes(
    provider: Provider, clock: FakeClock
) -> None:
    made = await provider.deploy("ftd-base", BASE)
    assert (made.name, made.model, made.state) == ("ftd-base", BASE, "creating")
    again = await provider.deploy("ftd-base", BASE)  # asking again makes no second one
    assert again.name == "ftd-base"
    assert [d.name for d in await provider.deployments()] == ["ftd-base"]

    async def ask() -> str:
        messages = [{"role": "user", "content": "hi"}]
        answer = await provider.chat(
            model="ftd-base", messages=messages, params={}, request_timeout=10
        )
        return answer.text

    clock.advance(61)
    found = await provider.deployment("ftd-base")
    assert found is not None
    assert found.state == "succeeded"
    with pytest.raises(RemoteError) as early:
        await ask()
    assert early.value.kind == NOT_READY
    clock.advance(40)
    assert await ask()
    await provider.undeploy("ftd-base")
    await provider.undeploy("ftd-base")  # already gone: no error
    assert await provider.deployment("ftd-base") is None
    with pytest.raises(RemoteError) as gone:
        await ask()
    assert gone.value.kind == NOT_FOUND


async def test_retirement_dates_come_from_azures_own_model_list(provider: Provider) -> None:
    dates = await provider.retirements()
    # Azure serves deployed 4.1-family models until 2027-10 (OpenAI: 2027-01-14).
    assert dates[BASE] == "2027-10-01"
    assert all(datetime.date.fromisoformat(day) for day in dates.values())


async def test_the_tracker_warns_by_azures_dates_not_openais(
    provider: Provider, tmp_path: Path
) -> None:
    from ftd.store import Store
    from ftd.tracker import Tracker

    async def nothing() -> None:
        return None

    store = await Store.open(tmp_path / "ftd.db")
    try:
        await store.adopt_job("ftjob-1", "succeeded", BASE, None)
        tracker = Tracker(store, provider, poll_seconds=1.0, on_finished=nothing)
        # OpenAI retires the model on 2027-01-14; Azure serves it until 2027-10.
        assert await tracker.check_retirements(today=datetime.date(2027, 1, 10)) == {}
        soon = await tracker.check_retirements(today=datetime.date(2027, 9, 20))
        assert soon == {BASE: "2027-10-01"}
    finally:
        await store.close()
