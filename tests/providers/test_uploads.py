"""Splits over the Files API's limit go through the Uploads API: parts, MD5, completion, expiry.

The emulator's Files API limit and ftd's are both lowered to a few KiB, so a
small file stands for one over 512 MB; ftd's requests and the answers it
reads are checked against the official OpenAPI document.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from ftd.emulator.control import EmulatorControl
from ftd.emulator.server import Emulator
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from ftd.errors import RemoteError
from ftd.providers import openai_api
from ftd.providers.core import CallPolicy
from ftd.providers.kinds import INVALID
from ftd.providers.openai_api import OpenAIProvider
from ftd.providers.types import Capabilities
from tests.emulator import openapi_schemas

pytestmark = pytest.mark.anyio
CAP = 4096
PART = 1024
LINE = (
    '{"messages": [{"role": "user", "content": "Q %d"}, {"role": "assistant", "content": "A"}]}\n'
)


class Seen:
    """ftd's JSON requests to the Uploads API and the answers it read, as sent and received."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.answers: list[tuple[str, str, Any]] = []

    async def request(self, request: httpx2.Request) -> None:
        if "/uploads" in request.url.path and not request.url.path.endswith("/parts"):
            body = json.loads(request.content) if request.content else None
            self.requests.append((request.method, request.url.path, body))

    async def response(self, response: httpx2.Response) -> None:
        path = response.request.url.path
        if "/uploads" in path and response.status_code == 200:
            await response.aread()
            self.answers.append((response.request.method, path, response.json()))

    def routes(self) -> list[str]:
        return [f"{m} {p.rsplit('/', 1)[-1]}" for m, p, _ in self.requests]


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    settings = EmulatorSettings(runtime=RuntimeConfig(seed=5, max_file_bytes=CAP))
    async with Emulator(settings) as running:
        yield running


@pytest.fixture
async def control(emulator: Emulator) -> AsyncIterator[EmulatorControl]:
    async with EmulatorControl(emulator.root_url) as admin:
        yield admin


@pytest.fixture
async def seen() -> Seen:
    return Seen()


@pytest.fixture
async def provider(emulator: Emulator, seen: Seen) -> AsyncIterator[OpenAIProvider]:
    http = openai.DefaultAsyncHttpxClient(
        event_hooks={"request": [seen.request], "response": [seen.response]}
    )
    client = openai.AsyncOpenAI(
        base_url=emulator.base_url, api_key="k", max_retries=0, http_client=http
    )
    policy = CallPolicy(retries=1, files_api_max_bytes=CAP, upload_part_bytes=PART)
    adapter = OpenAIProvider("default", client, policy=policy)
    yield adapter
    await adapter.close()


def dataset(path: Path, lines: int) -> bytes:
    data = "".join(LINE % i for i in range(lines)).encode()
    path.write_bytes(data)
    return data


def spec() -> openapi_schemas.OpenApiSchemas:
    """The official document, found beside the checkout whichever worktree runs the tests."""
    if not openapi_schemas.SPEC_PATH.exists():
        for parent in Path(__file__).resolve().parents:
            candidate = parent / "shared" / "openai-openapi" / "openapi.yaml"
            if candidate.exists():
                openapi_schemas.SPEC_PATH = candidate
                break
    return openapi_schemas.load()


async def stats(control: EmulatorControl) -> dict[str, int]:
    counts: dict[str, int] = (await control.stats())["requests"]
    return counts


async def test_a_file_over_the_files_api_limit_goes_in_parts_and_arrives_whole(
    provider: OpenAIProvider,
    control: EmulatorControl,
    emulator: Emulator,
    seen: Seen,
    tmp_path: Path,
) -> None:
    data = dataset(tmp_path / "train.jsonl", 120)
    assert len(data) > 2 * CAP
    remote = await provider.upload(tmp_path / "train.jsonl", "ftd-x-train.jsonl")
    assert remote.filename == "ftd-x-train.jsonl"
    assert remote.bytes == len(data)
    counts = await stats(control)
    assert counts.get("POST /v1/files", 0) == 0
    assert counts["POST /v1/uploads"] == 1
    assert counts["POST /v1/uploads/{id}/parts"] == math.ceil(len(data) / PART)
    assert counts["POST /v1/uploads/{id}/complete"] == 1
    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k") as sdk:
        assert (await sdk.files.content(remote.id)).content == data  # parts joined in order
    assert seen.routes() == ["POST uploads", "POST complete"]
    create, complete = (body for _, _, body in seen.requests)
    assert create["bytes"] == len(data)
    assert complete["md5"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert len(complete["part_ids"]) == math.ceil(len(data) / PART)
    schemas = spec()
    assert schemas.errors(schemas.component("CreateUploadRequest"), create) == []
    assert schemas.errors(schemas.component("CompleteUploadRequest"), complete) == []
    assert len(seen.answers) == 2 + math.ceil(len(data) / PART)
    for method, path, answer in seen.answers:
        tail = path.rsplit("/", 1)[-1]
        route = "/uploads" if tail == "uploads" else f"/uploads/{{upload_id}}/{tail}"
        schema = schemas.response_schema(method, route)
        assert schemas.errors(schema, answer) == [], (path, answer)


async def test_a_file_within_the_limit_is_sent_in_one_request(
    provider: OpenAIProvider, control: EmulatorControl, tmp_path: Path
) -> None:
    data = dataset(tmp_path / "small.jsonl", 10)
    assert len(data) <= CAP
    remote = await provider.upload(tmp_path / "small.jsonl", "ftd-small.jsonl")
    assert remote.bytes == len(data)
    counts = await stats(control)
    assert counts["POST /v1/files"] == 1
    assert counts.get("POST /v1/uploads", 0) == 0


async def test_the_emulator_refuses_one_request_over_its_lowered_cap(
    control: EmulatorControl, emulator: Emulator, tmp_path: Path
) -> None:
    data = dataset(tmp_path / "big.jsonl", 120)
    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as sdk:
        with pytest.raises(openai.APIStatusError):
            await sdk.files.create(file=("big.jsonl", data), purpose="fine-tune")


async def test_a_wrong_md5_is_refused_and_the_upload_cancelled(
    provider: OpenAIProvider,
    control: EmulatorControl,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    dataset(tmp_path / "train.jsonl", 120)
    monkeypatch.setattr(openai_api, "md5_of", lambda _path: "0" * 32)
    with pytest.raises(RemoteError, match="md5"):
        await provider.upload(tmp_path / "train.jsonl", "ftd-x-train.jsonl")
    counts = await stats(control)
    assert counts["POST /v1/uploads/{id}/cancel"] == 1
    state = await control.state()
    assert state["files"] == {}  # no file was made of the parts
    assert state["uploads"] == {"cancelled": 1}


@pytest.mark.parametrize(
    ("ttl", "why", "left"),
    [
        (0.0, "is expired", "expired"),  # expired at once: the server says so
        (30.0, "would expire", "cancelled"),  # too short for ftd's margin: ftd cancels it
    ],
)
async def test_an_upload_that_expires_first_is_given_up_on(
    provider: OpenAIProvider,
    control: EmulatorControl,
    tmp_path: Path,
    ttl: float,
    why: str,
    left: str,
) -> None:
    await control.configure(upload_ttl_seconds=ttl)
    dataset(tmp_path / "train.jsonl", 120)
    with pytest.raises(RemoteError, match=why):
        await provider.upload(tmp_path / "train.jsonl", "ftd-x-train.jsonl")
    counts = await stats(control)
    assert counts.get("POST /v1/uploads/{id}/parts", 0) == 0  # nothing sent to a lost cause
    assert counts.get("POST /v1/uploads/{id}/complete", 0) == 0
    assert (await control.state())["uploads"] == {left: 1}


async def test_a_provider_without_the_uploads_api_refuses_clearly(
    provider: OpenAIProvider, control: EmulatorControl, tmp_path: Path
) -> None:
    provider.capabilities = Capabilities(uploads=False)
    dataset(tmp_path / "train.jsonl", 120)
    with pytest.raises(RemoteError, match="over the 4,096 bytes") as caught:
        await provider.upload(tmp_path / "train.jsonl", "ftd-x-train.jsonl")
    assert caught.value.kind == INVALID
    assert sum((await stats(control)).values()) == 0
