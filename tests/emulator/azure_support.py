"""Shared pieces of the Azure-flavour tests: the emulator, SDK clients, ARM calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
from openai.types.file_create_params import ExpiresAfter
from openai.types.fine_tuning import FineTuningJob

from ftd.emulator.server import Emulator
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from tests.emulator.helpers import FakeClock, chat_dataset

KEY = "azure-test-key"
TOKEN = "entra-test-token"
API_VERSION = "2025-04-01-preview"
ARM_VERSION = "2024-10-01"
SUBSCRIPTION, RESOURCE_GROUP, ACCOUNT = "00000000-0000-0000-0000-000000000001", "rg-ftd", "acct-ftd"
EXPIRES: ExpiresAfter = {"anchor": "created_at", "seconds": 1_209_600}
BASE = "gpt-4.1-mini-2025-04-14"


@asynccontextmanager
async def azure_emulator(
    *, clock: FakeClock | None = None, state_path: Any = None, **runtime: Any
) -> AsyncIterator[Emulator]:
    runtime.setdefault("seed", 1234)
    settings = EmulatorSettings(
        state_path=state_path, runtime=RuntimeConfig(**runtime), flavor="azure"
    )
    emulator = Emulator(settings) if clock is None else Emulator(settings, clock=clock)
    async with emulator:
        yield emulator


def v1_client(emulator: Emulator) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=emulator.base_url + "/", api_key=KEY, max_retries=0)


def versioned_client(emulator: Emulator) -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(
        azure_endpoint=emulator.root_url, api_key=KEY, api_version=API_VERSION, max_retries=0
    )


def account_url(emulator: Emulator) -> str:
    return (
        f"{emulator.root_url}/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
        f"/providers/Microsoft.CognitiveServices/accounts/{ACCOUNT}"
    )


def deployment_url(emulator: Emulator, name: str) -> str:
    return f"{account_url(emulator)}/deployments/{name}?api-version={ARM_VERSION}"


def deployment_body(
    model: str, version: str | None = None, sku: str = "Standard"
) -> dict[str, Any]:
    body: dict[str, Any] = {"format": "OpenAI", "name": model}
    if version is not None:
        body["version"] = version
    return {"sku": {"name": sku, "capacity": 1}, "properties": {"model": body}}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


class Arm:
    """Plain HTTP to the ARM routes, with a bearer token unless told otherwise."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self, method: str, url: str, body: object = None, *, token: str | None = TOKEN
    ) -> Answer:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with self.session.request(method, url, json=body, headers=headers) as response:
            text = await response.text()
            parsed = await response.json(content_type=None) if text else None
            return Answer(response.status, dict(response.headers), parsed)


@asynccontextmanager
async def arm_client() -> AsyncIterator[Arm]:
    async with aiohttp.ClientSession() as session:
        yield Arm(session)


async def upload(client: openai.AsyncOpenAI, n: int = 12, name: str = "train.jsonl") -> str:
    created = await client.files.create(
        file=(name, chat_dataset(n), "application/jsonl"),
        purpose="fine-tune",
        expires_after=EXPIRES,
    )
    return created.id


async def finish(client: openai.AsyncOpenAI, clock: FakeClock, job_id: str) -> FineTuningJob:
    for _ in range(400):
        job = await client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            return job
        clock.advance(5.0)
    raise AssertionError(f"job {job_id} did not finish; last status {job.status}")


async def until_trained(client: openai.AsyncOpenAI, clock: FakeClock, job_id: str) -> None:
    """Advance the clock until the job is running and has trained at least one step."""
    for _ in range(2000):
        job = await client.fine_tuning.jobs.retrieve(job_id)
        if job.status == "running":
            events = await client.fine_tuning.jobs.list_events(job_id, limit=1)
            if events.data and events.data[0].type == "metrics":
                return
        clock.advance(0.5)
    raise AssertionError(f"job {job_id} never trained a step; last status {job.status}")


async def until_running(client: openai.AsyncOpenAI, clock: FakeClock, job_id: str) -> None:
    """Advance the clock in small steps until the job reports running (no step yet)."""
    for _ in range(2000):
        job = await client.fine_tuning.jobs.retrieve(job_id)
        if job.status == "running":
            return
        clock.advance(0.05)
    raise AssertionError(f"job {job_id} never ran; last status {job.status}")
