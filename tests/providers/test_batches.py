"""The seam's batch operations against the emulator: upload, create with a tag, find, download."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import openai
import pytest

from ftd.emulator.server import Emulator
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from ftd.errors import RemoteError
from ftd.providers import Provider
from ftd.providers.batches import COMPLETED, RemoteBatch
from ftd.providers.core import CallPolicy
from ftd.providers.kinds import INVALID, UNSUPPORTED
from ftd.providers.openai_api import OpenAIProvider
from ftd.providers.types import Capabilities

pytestmark = pytest.mark.anyio


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    runtime = RuntimeConfig(seed=3, speed=1000)
    async with Emulator(EmulatorSettings(runtime=runtime)) as running:
        yield running


@pytest.fixture
async def remote(emulator: Emulator) -> AsyncIterator[Provider]:
    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k") as client:
        yield OpenAIProvider("default", client, policy=CallPolicy(retries=1))


def request_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "requests.jsonl"
    with path.open("w") as out:
        for i in range(n):
            body = {
                "model": "gpt-4o-mini-2024-07-18",
                "messages": [{"role": "user", "content": f"Q{i}"}],
            }
            line = {
                "custom_id": f"e1/{i}/answer/0",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": body,
            }
            out.write(json.dumps(line) + "\n")
    return path


async def settled(remote: Provider, batch_id: str) -> RemoteBatch:
    """The batch once terminal: polled with a generous deadline (the clock runs 1000x)."""
    with anyio.fail_after(60):
        for _ in range(100_000):
            current = await remote.batch(batch_id)
            if current.terminal:
                return current
            await anyio.sleep(0.05)
    raise AssertionError(f"batch {batch_id} never ended")


async def test_upload_create_find_follow_and_download(remote: Provider, tmp_path: Path) -> None:
    assert remote.capabilities.batch
    uploaded = await remote.upload_batch_file(request_file(tmp_path, 6), "ftd-eval-1-b0.jsonl")
    assert (await remote.find_batch_file("ftd-eval-1-b0.jsonl")) == uploaded
    assert await remote.find_batch_file("ftd-eval-2-b0.jsonl") is None
    created = await remote.create_batch(uploaded.id, {"ftd_batch": "eval-1/b0"})
    assert created.metadata == {"ftd_batch": "eval-1/b0"}
    assert [b.id for b in await remote.find_batches("ftd_batch", "eval-1/b0")] == [created.id]
    assert await remote.find_batches("ftd_batch", "eval-9/b0") == []

    current = await settled(remote, created.id)
    assert current.status == COMPLETED
    assert (current.total, current.completed, current.failed) == (6, 6, 0)
    assert current.output_file_id is not None
    dest = tmp_path / "out.jsonl"
    size = await remote.download_file(current.output_file_id, dest)
    lines = dest.read_bytes().splitlines()
    assert size == dest.stat().st_size
    assert sorted(json.loads(line)["custom_id"] for line in lines) == [
        f"e1/{i}/answer/0" for i in range(6)
    ]

    with pytest.raises(RemoteError) as capped:
        await remote.download_file(current.output_file_id, tmp_path / "capped.jsonl", max_bytes=100)
    assert capped.value.kind == INVALID
    assert not (tmp_path / "capped.jsonl").exists()
    assert not (tmp_path / "capped.jsonl.part").exists()


async def test_cancel_reaches_a_terminal_state(remote: Provider, tmp_path: Path) -> None:
    uploaded = await remote.upload_batch_file(request_file(tmp_path, 3), "ftd-eval-3-b0.jsonl")
    created = await remote.create_batch(uploaded.id, {"ftd_batch": "eval-3/b0"})
    cancelling = await remote.cancel_batch(created.id)
    assert cancelling.status in ("cancelling", "cancelled")
    current = await settled(remote, created.id)
    assert current.status == "cancelled"


async def test_a_provider_without_batches_refuses_plainly(remote: Provider, tmp_path: Path) -> None:
    remote.capabilities = Capabilities(batch=False)
    with pytest.raises(RemoteError) as refused:
        await remote.create_batch("file-x", {"ftd_batch": "x"})
    assert refused.value.kind == UNSUPPORTED
    assert "batch" in str(refused.value)
