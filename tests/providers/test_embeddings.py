"""``Provider.embed``: OpenAI's fast path and Azure's SDK path against the emulator, a server's
bad answers refused whole, and Together's refusal before anything is sent."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web

from ftd.config import load_settings
from ftd.datasets.tokens import load_encoding
from ftd.emulator.server import Emulator
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from ftd.errors import RemoteError
from ftd.pace import Pace
from ftd.providers import Embeddings, Provider
from ftd.providers.kinds import INVALID, NOT_FOUND, TRANSIENT, UNSUPPORTED
from ftd.providers.openai_api import OpenAIProvider
from ftd.providers.registry import open_provider
from ftd.providers.together import TogetherProvider
from tests.emulator.azure_support import azure_emulator
from tests.emulator.helpers import FakeClock

pytestmark = pytest.mark.anyio
SMALL = "text-embedding-3-small"
TEXTS = ["How do I reset my password?", "How can I reset my password?"]


def _cosine(answer: Embeddings) -> float:
    first, second = answer.vectors
    dot = sum(a * b for a, b in zip(first, second, strict=True))
    return dot / (math.sqrt(sum(a * a for a in first)) * math.sqrt(sum(b * b for b in second)))


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorSettings(runtime=RuntimeConfig(seed=7))) as running:
        yield running


@pytest.fixture
async def remote(emulator: Emulator) -> AsyncIterator[OpenAIProvider]:
    client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0)
    adapter = OpenAIProvider("default", client, pace=Pace(concurrency=4, per_minute=None))
    yield adapter
    await adapter.close()


def _embedded(emulator: Emulator) -> int:
    return emulator.core.traffic.stats.requests.get("POST /v1/embeddings", 0)


async def test_openai_embeds_in_ftds_own_record(remote: Provider, emulator: Emulator) -> None:
    answer = await remote.embed(model=SMALL, texts=TEXTS, request_timeout=10)
    assert isinstance(answer, Embeddings)
    assert [len(v) for v in answer.vectors] == [1536, 1536]
    assert all(isinstance(x, float) for x in answer.vectors[0])
    encoding = load_encoding("cl100k_base")
    assert answer.prompt_tokens == sum(len(encoding.encode(t)) for t in TEXTS)
    assert answer.model == SMALL
    assert _cosine(answer) > 0.5
    short = await remote.embed(model=SMALL, texts=TEXTS[:1], request_timeout=10, dimensions=64)
    assert [len(v) for v in short.vectors] == [64]
    with pytest.raises(RemoteError) as unknown:
        await remote.embed(model="text-embedding-9", texts=TEXTS, request_timeout=10)
    assert (unknown.value.kind, unknown.value.code) == (NOT_FOUND, "model_not_found")
    sent = _embedded(emulator)
    with pytest.raises(RemoteError) as empty:
        await remote.embed(model=SMALL, texts=["x", ""], request_timeout=10)
    assert empty.value.kind == INVALID
    assert _embedded(emulator) == sent  # refused before sending


async def test_azure_embeds_on_the_deployment_named_for_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setenv("FTD_TEST_ARM_TOKEN", "arm-token")
    async with azure_emulator(clock=clock, speed=1) as emulator:
        env = {"HOME": str(tmp_path), "AZURE_OPENAI_API_KEY": "az-key"}
        azure: dict[str, Any] = {
            "endpoint": emulator.root_url,
            "use_v1_path": True,
            "management_url": emulator.root_url,
            "management_auth": "token",
            "management_token_env": "FTD_TEST_ARM_TOKEN",
            "subscription_id": "sub",
            "resource_group": "rg",
            "account": "acct",
            "deployments": {SMALL: "embedder"},
        }
        settings = load_settings(env=env, overrides={"provider": {"kind": "azure", "azure": azure}})
        adapter = open_provider("default", settings.provider)
        try:
            assert adapter.capabilities.embeddings
            await adapter.deploy("embedder", SMALL)
            clock.advance(200)  # provisioned, and past its not-ready spell
            answer = await adapter.embed(model=SMALL, texts=TEXTS, request_timeout=10)
            assert [len(v) for v in answer.vectors] == [1536, 1536]
            assert _cosine(answer) > 0.5
            with pytest.raises(RemoteError) as missing:
                await adapter.embed(model="text-embedding-3-large", texts=TEXTS, request_timeout=10)
            assert missing.value.kind == NOT_FOUND
        finally:
            await adapter.close()


async def test_together_refuses_embeddings_before_sending() -> None:
    adapter = TogetherProvider("default", api_key="k", base_url="http://127.0.0.1:9/v1")
    assert not adapter.capabilities.embeddings
    with pytest.raises(RemoteError) as refused:
        await adapter.embed(model=SMALL, texts=TEXTS, request_timeout=1)
    assert refused.value.kind == UNSUPPORTED
    await adapter.close()


BAD_ANSWERS: list[tuple[object, str]] = [
    ({"data": [{"index": 0, "embedding": [0.1, 0.2]}]}, "1 embeddings for 2 inputs"),
    (
        {"data": [{"index": 0, "embedding": [0.1]}, {"index": 0, "embedding": [0.2]}]},
        "index 0 comes twice",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.1]}, {"index": 1, "embedding": [0.2, 0.3]}]},
        "differ in length",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.1]}, {"index": 1, "embedding": ["0.2"]}]},
        "not a number",
    ),
    (
        {"data": [{"index": 0, "embedding": "AAAA"}, {"index": 1, "embedding": [0.2]}]},
        "not a list",
    ),
    ({"data": [{"index": 0, "embedding": [0.1]}, {"index": 5, "embedding": [0.2]}]}, "index 5"),
    (["not", "an", "object"], "no data list"),
]


@pytest.fixture
async def garbling() -> AsyncIterator[tuple[list[object], str]]:
    """A server answering 200 with whatever the test queues."""
    queued: list[object] = []

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(queued.pop(0))

    app = web.Application()
    app.router.add_post("/v1/embeddings", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield queued, f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


async def test_a_bad_answer_is_refused_whole_and_may_be_asked_again(
    garbling: tuple[list[object], str],
) -> None:
    queued, base_url = garbling
    client = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0)
    adapter = OpenAIProvider("default", client, pace=Pace(concurrency=4, per_minute=None))
    try:
        for body, words in BAD_ANSWERS:
            queued.append(body)
            with pytest.raises(RemoteError) as refused:
                await adapter.embed(model=SMALL, texts=TEXTS, request_timeout=5)
            assert refused.value.kind == TRANSIENT
            assert refused.value.retryable
            assert words in str(refused.value), (body, str(refused.value))
        # placed by index, whatever order the data comes in; a usage of the wrong type is 0
        queued.append(
            {
                "data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1, 0]}],
                "usage": {"prompt_tokens": "many"},
            }
        )
        answer = await adapter.embed(model=SMALL, texts=TEXTS, request_timeout=5)
        assert answer.vectors == ((1.0, 0.0), (0.0, 1.0))
        assert answer.prompt_tokens == 0
        # a vector of the wrong length for the dimensions asked for is no answer
        queued.append({"data": [{"index": 0, "embedding": [0.1, 0.2, 0.3]}]})
        with pytest.raises(RemoteError, match="asked for 2 dimensions, answered 3"):
            await adapter.embed(model=SMALL, texts=TEXTS[:1], request_timeout=5, dimensions=2)
    finally:
        await adapter.close()
