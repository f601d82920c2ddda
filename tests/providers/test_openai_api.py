"""The OpenAI adapter against the emulator: creates sent once, reads retried, errors by kind."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from ftd.emulator.control import EmulatorControl
from ftd.emulator.server import Emulator
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from ftd.errors import RemoteError
from ftd.providers import JobRequest, Provider
from ftd.providers.core import CallPolicy
from ftd.providers.kinds import BLOCKED, CAPPED, RATE_LIMITED, TRANSIENT
from ftd.providers.openai_api import OpenAIProvider

pytestmark = pytest.mark.anyio

LINE = (
    '{"messages": [{"role": "user", "content": "Where is order %d?"}, '
    '{"role": "assistant", "content": "Order %d ships tomorrow."}]}\n'
)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorSettings(runtime=RuntimeConfig(seed=7, speed=100))) as running:
        yield running


@pytest.fixture
async def control(emulator: Emulator) -> AsyncIterator[EmulatorControl]:
    async with EmulatorControl(emulator.root_url) as admin:
        yield admin


@pytest.fixture
def sleeps() -> list[float]:
    """The back-off delays the client asked for (it does not really wait in these tests)."""
    return []


@pytest.fixture
async def remote(emulator: Emulator, sleeps: list[float]) -> AsyncIterator[Provider]:
    async def no_wait(seconds: float) -> None:
        sleeps.append(seconds)

    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k") as client:
        provider = OpenAIProvider("default", client, policy=CallPolicy(retries=2), sleep=no_wait)
        yield provider
        await provider.close()  # its list pages' aiohttp session


def job(model: str, training_file: str, **metadata: str) -> JobRequest:
    return JobRequest(model=model, training_file=training_file, metadata=metadata)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(LINE % (i, i) for i in range(12)))
    return path


async def requests(control: EmulatorControl, route: str) -> int:
    stats: dict[str, Any] = await control.stats()
    return int(stats["requests"].get(route, 0))


async def test_upload_then_find_by_name(remote: Provider, dataset: Path) -> None:
    uploaded = await remote.upload(dataset, "ftd-abc123-train.jsonl")
    found = await remote.find_file("ftd-abc123-train.jsonl")
    assert found is not None
    assert found.id == uploaded.id
    assert await remote.find_file("ftd-other-train.jsonl") is None


async def test_create_is_sent_once_even_when_it_fails(
    remote: Provider, control: EmulatorControl, dataset: Path
) -> None:
    uploaded = await remote.upload(dataset, "ftd-abc-train.jsonl")
    await control.configure(error_rate=1.0)
    with pytest.raises(RemoteError) as failure:
        await remote.create_job(job("gpt-4.1-mini-2025-04-14", uploaded.id))
    assert failure.value.kind == TRANSIENT
    assert failure.value.retryable
    assert await requests(control, "POST /v1/fine_tuning/jobs") == 1


async def test_reads_are_retried_a_bounded_number_of_times(
    remote: Provider, control: EmulatorControl, sleeps: list[float]
) -> None:
    await control.configure(error_rate=1.0)
    with pytest.raises(RemoteError) as failure:
        await remote.job("ftjob-missing")
    assert failure.value.status is not None
    assert failure.value.status >= 500
    assert await requests(control, "GET /v1/fine_tuning/jobs/{id}") == 3
    assert len(sleeps) == 2


async def test_rate_limits_carry_the_servers_retry_after(
    remote: Provider, control: EmulatorControl, sleeps: list[float]
) -> None:
    await control.configure(rate_limit_rate=1.0, retry_after_ms=250)
    with pytest.raises(RemoteError) as failure:
        await remote.find_jobs("ftd_ds", "abc")
    assert failure.value.kind == RATE_LIMITED
    assert failure.value.retry_after == pytest.approx(0.25)
    assert sleeps == [pytest.approx(0.25), pytest.approx(0.25)]


async def test_refusals_are_classified(
    remote: Provider, control: EmulatorControl, dataset: Path
) -> None:
    uploaded = await remote.upload(dataset, "ftd-abc-train.jsonl")
    await control.configure(training_not_available=True)
    with pytest.raises(RemoteError) as blocked:
        await remote.create_job(job("gpt-4.1-mini-2025-04-14", uploaded.id))
    assert (blocked.value.kind, blocked.value.retryable) == (BLOCKED, False)
    assert "training_not_available" in str(blocked.value)
    await control.configure(training_not_available=False, daily_job_cap=0)
    with pytest.raises(RemoteError) as capped:
        await remote.create_job(job("gpt-4.1-mini-2025-04-14", uploaded.id))
    assert (capped.value.kind, capped.value.code) == (CAPPED, "daily_rate_limit_exceeded")


async def test_jobs_are_found_by_their_metadata_tag(remote: Provider, dataset: Path) -> None:
    uploaded = await remote.upload(dataset, "ftd-abc-train.jsonl")
    made = await remote.create_job(job("gpt-4.1-mini-2025-04-14", uploaded.id, ftd_ds="abc"))
    await remote.create_job(job("gpt-4.1-mini-2025-04-14", uploaded.id, ftd_ds="zzz"))
    assert [j.id for j in await remote.find_jobs("ftd_ds", "abc")] == [made.id]
    assert (await remote.job(made.id)).id == made.id


async def test_each_provider_profile_builds_its_client(tmp_path: Path) -> None:
    from ftd.config import load_settings
    from ftd.providers.registry import open_provider

    def settings(**provider: Any) -> Any:
        env = {"HOME": str(tmp_path), "OPENAI_API_KEY": "sk-o", "AZURE_OPENAI_API_KEY": "az-k"}
        return load_settings(env=env, overrides={"provider": provider}).provider

    def client_of(provider: Provider) -> Any:
        return provider._client  # type: ignore[attr-defined]

    plain = open_provider(
        "default", settings(openai={"organization": "org-1", "project": "proj_1"})
    )
    openai_client = client_of(plain)
    # No base_url: the SDK's own default (here the unroutable one tests/conftest.py sets).
    assert str(openai_client.base_url) == os.environ["OPENAI_BASE_URL"] + "/"
    assert (openai_client.organization, openai_client.project) == ("org-1", "proj_1")
    assert openai_client.max_retries == 0
    compatible = open_provider(
        "default", settings(kind="compatible", compatible={"base_url": "http://127.0.0.1:8080/v1"})
    )
    assert str(client_of(compatible).base_url) == "http://127.0.0.1:8080/v1/"
    assert client_of(compatible).api_key == "sk-o"
    classic = open_provider(
        "default",
        settings(
            kind="azure",
            azure={
                "endpoint": "https://acme.openai.azure.com",
                "api_version": "2025-04-01-preview",
            },
        ),
    )
    assert isinstance(client_of(classic), openai.AsyncAzureOpenAI)
    assert str(client_of(classic).base_url) == "https://acme.openai.azure.com/openai/"
    assert client_of(classic)._api_version == "2025-04-01-preview"
    assert client_of(classic).api_key == "az-k"
    v1 = open_provider(
        "default",
        settings(
            kind="azure", azure={"endpoint": "https://acme.openai.azure.com", "use_v1_path": True}
        ),
    )
    assert not isinstance(client_of(v1), openai.AsyncAzureOpenAI)
    assert str(client_of(v1).base_url) == "https://acme.openai.azure.com/openai/v1/"
    assert client_of(v1).default_headers["api-key"] == "az-k"
    assert (plain.kind, compatible.kind, classic.kind, v1.kind) == (
        "openai",
        "openai",
        "azure",
        "azure",
    )
    for provider in (plain, compatible, classic, v1):
        await provider.close()
