"""Fixtures: a store, an in-process emulator with a job clock, trained models, test files."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from ftd.config.evaluation import EvaluationSettings
from ftd.emulator.server import Emulator
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from ftd.evaluation.budget import Pricing
from ftd.evaluation.cache import ResponseCache
from ftd.evaluation.limits import Limits
from ftd.evaluation.pool import Requester
from ftd.evaluation.runner import Runner
from ftd.pace import Pace
from ftd.providers.openai_api import OpenAIProvider
from ftd.store import Store
from ftd.store import evaluations as rows_of
from ftd.store.evaluations import EvaluationRow
from tests.emulator.helpers import FakeClock, chat_example, finish, jsonl, support_examples, upload

BASE = "gpt-4.1-mini-2025-04-14"
JUDGE = "gpt-4.1-2025-04-14"
PRICING = Pricing(prompt=1e-6, completion=4e-6)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def emulator(clock: FakeClock) -> AsyncIterator[Emulator]:
    """An emulator whose jobs move only when ``train`` advances the clock."""
    async with Emulator(EmulatorSettings(runtime=RuntimeConfig(seed=7)), clock=clock) as running:
        yield running


async def train(emulator: Emulator, clock: FakeClock, records: list[dict[str, Any]]) -> str:
    """A fine-tuned model of BASE trained on ``records``, ready to answer."""
    client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="test", max_retries=0)
    try:
        file_id = await upload(client, jsonl(records))
        job = await client.fine_tuning.jobs.create(model=BASE, training_file=file_id)
        done = await finish(client, clock, job.id)
    finally:
        await client.close()
    assert done.status == "succeeded"
    assert done.fine_tuned_model
    return done.fine_tuned_model


def support_pairs(count: int, start: int = 0) -> list[tuple[str, str]]:
    return support_examples(start + count)[start:]


def support_records(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [chat_example(q, a) for q, a in pairs]


def write_test_file(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps(chat_example(q, a)) + "\n" for q, a in pairs))
    return path


class Bench:
    """A runner wired to the emulator, as the service wires it, and what it did."""

    def __init__(self, store: Store, emulator: Emulator, settings: EvaluationSettings) -> None:
        self.store = store
        self.emulator = emulator
        self.settings = settings
        self.client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="t", max_retries=0)
        self.remote = OpenAIProvider(
            "default", self.client, pace=Pace(concurrency=64, per_minute=None)
        )
        self.limits = Limits(settings.concurrency_for)
        self.requester = Requester(
            self.remote.chat,
            self.limits,
            ResponseCache(store),
            attempts=settings.attempts,
            timeout=10.0,
            base_delay=0.01,
            max_delay=0.05,
            embed=self.remote.embed,
        )
        self.runner = Runner(
            store, self.requester, lambda _model: PRICING, in_flight_for=settings.concurrency_for
        )

    def chat_requests(self) -> int:
        counts = self.emulator.core.traffic.stats.requests
        return counts.get("POST /v1/chat/completions", 0)

    def embeddings_requests(self) -> int:
        return self.emulator.core.traffic.stats.requests.get("POST /v1/embeddings", 0)

    async def evaluate(
        self, model: str, test_file: Path, base_model: str | None = BASE
    ) -> EvaluationRow:
        queued = await self.queue(model, test_file, base_model)
        return await self.resume(queued.id)

    async def queue(
        self, model: str, test_file: Path, base_model: str | None = BASE
    ) -> EvaluationRow:
        """A requested evaluation, queued and not run."""
        new_id = await rows_of.queue(
            self.store,
            kind=rows_of.KIND_REQUEST,
            model=model,
            base_model=base_model,
            test_file=str(test_file),
            config=self.settings.model_dump(mode="json"),
        )
        assert new_id is not None
        row = await rows_of.get(self.store, new_id)
        assert row is not None
        return row

    async def resume(self, evaluation_id: int) -> EvaluationRow:
        row = await rows_of.get(self.store, evaluation_id)
        assert row is not None
        await self.runner.run(row)
        done = await rows_of.get(self.store, evaluation_id)
        assert done is not None
        return done

    async def close(self) -> None:
        await self.remote.close()  # its completions' connections, and the SDK client


MakeBench = Callable[..., Bench]


@pytest.fixture
async def make_bench(store: Store, emulator: Emulator) -> AsyncIterator[MakeBench]:
    made: list[Bench] = []

    def make(**overrides: Any) -> Bench:
        overrides.setdefault("judge_model", JUDGE)
        overrides.setdefault("resamples", 1000)
        bench = Bench(store, emulator, EvaluationSettings(**overrides))
        made.append(bench)
        return bench

    yield make
    for bench in made:
        await bench.close()
