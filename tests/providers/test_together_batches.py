"""The Together adapter's batch operations against the Together flavour of the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from ftd.config import load_settings
from ftd.providers.batches import COMPLETED
from ftd.providers.registry import open_provider
from ftd.providers.together import TogetherProvider
from ftd.providers.together_batches import TAG_METADATA_KEY, translate_file
from tests.emulator.helpers import FakeClock
from tests.emulator.together_support import KEY, LLAMA_8B, together_emulator

pytestmark = pytest.mark.anyio
TAG = "ftd-e3-abc-0"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _open(tmp_path: Path, root: str, **together: str) -> TogetherProvider:
    env = {"HOME": str(tmp_path), "TOGETHER_API_KEY": KEY}
    overrides = {"provider": {"kind": "together", "together": {"base_url": root, **together}}}
    adapter = open_provider("default", load_settings(env=env, overrides=overrides).provider)
    assert isinstance(adapter, TogetherProvider)
    return adapter


@pytest.fixture
async def root(clock: FakeClock) -> AsyncIterator[str]:
    async with together_emulator(clock=clock, batch_seconds=30) as emulator:
        yield emulator.base_url


@pytest.fixture
async def provider(tmp_path: Path, root: str) -> AsyncIterator[TogetherProvider]:
    adapter = _open(tmp_path, root)
    yield adapter
    await adapter.close()


def request_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / f"{TAG}.jsonl"
    lines = [
        {
            "custom_id": f"e3/{i}/answer/0",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": LLAMA_8B,
                "messages": [{"role": "user", "content": f"Where is parcel {i}?"}],
                "max_completion_tokens": 64,
            },
        }
        for i in range(count)
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


async def test_a_batch_goes_from_upload_to_answers_and_is_found_again_by_its_tag(
    provider: TogetherProvider, tmp_path: Path, clock: FakeClock, root: str
) -> None:
    assert provider.capabilities.batch
    assert provider.batch_limits.max_bytes == 100 * 1024 * 1024
    path = request_file(tmp_path, 4)
    assert await provider.find_batch_file(path.name) is None
    uploaded = await provider.upload_batch_file(path, path.name)
    assert (await provider.find_batch_file(path.name)) == uploaded
    created = await provider.create_batch(uploaded.id, {TAG_METADATA_KEY: TAG})
    assert created.status == "validating"
    # A second adapter (a restarted daemon) finds the batch by its tag alone.
    again = _open(tmp_path, root)
    try:
        found = await again.find_batches(TAG_METADATA_KEY, TAG)
    finally:
        await again.close()
    assert [b.id for b in found] == [created.id]
    assert await provider.find_batches(TAG_METADATA_KEY, "ftd-e3-abc-9") == []
    progress: list[float | None] = []
    for _ in range(300):
        clock.advance(1.0)
        batch = await provider.batch(created.id)
        progress.append(batch.progress)
        if batch.terminal:
            break
    assert batch.status == COMPLETED
    # The percentage done, told while the batch ran (counts Together does not give).
    assert progress[-1] == 100.0
    assert any(p is not None and 0.0 < p < 100.0 for p in progress), progress
    assert progress == sorted(p or 0.0 for p in progress)
    assert batch.output_file_id is not None
    out = tmp_path / "out.jsonl"
    size = await provider.download_file(batch.output_file_id, out)
    assert size == out.stat().st_size > 0
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert sorted(line["custom_id"] for line in lines) == [f"e3/{i}/answer/0" for i in range(4)]
    answer = provider.batch_answer(lines[0]["response"]["body"])
    assert answer.text
    assert answer.prompt_tokens > 0
    assert answer.model == LLAMA_8B


async def test_cancel_and_the_request_file_sent_with_togethers_parameter_name(
    provider: TogetherProvider, tmp_path: Path, clock: FakeClock
) -> None:
    path = request_file(tmp_path, 2)
    translated = tmp_path / "sent.jsonl"
    size = translate_file(path, translated)
    assert size == translated.stat().st_size
    sent = [orjson.loads(line) for line in translated.read_bytes().splitlines()]
    assert len(sent) == 2
    assert sent[0]["body"]["max_tokens"] == 64
    assert "max_completion_tokens" not in sent[0]["body"]
    uploaded = await provider.upload_batch_file(path, path.name)
    created = await provider.create_batch(uploaded.id, {TAG_METADATA_KEY: TAG})
    await provider.cancel_batch(created.id)
    for _ in range(300):
        clock.advance(1.0)
        batch = await provider.batch(created.id)
        if batch.terminal:
            break
    assert batch.status == "cancelled"


async def test_a_dedicated_endpoint_profile_takes_no_batches(tmp_path: Path, root: str) -> None:
    adapter = _open(tmp_path, root, endpoint_hardware="1x_nvidia_h100_80gb_sxm")
    try:
        assert not adapter.capabilities.batch
    finally:
        await adapter.close()
