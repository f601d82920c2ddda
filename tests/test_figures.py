"""Figures a provider reports are believed only within bounds; the rest never reach spend."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from ftd.control.handlers.spend import spend
from ftd.figures import (
    MAX_EPOCHS,
    believable_job,
    trained_tokens_problem,
    usage_problem,
)
from ftd.providers import ChatAnswer, Provider, RemoteJob
from ftd.store import Store
from ftd.store.tracking import Cycle, JobUpdate

pytestmark = pytest.mark.anyio
PER_EPOCH = 10_000


@pytest.mark.parametrize(
    ("value", "per_epoch", "refused"),
    [
        (30_000, PER_EPOCH, False),
        (PER_EPOCH * MAX_EPOCHS, PER_EPOCH, False),
        (PER_EPOCH * MAX_EPOCHS * 2, PER_EPOCH, True),  # more than 50 epochs could bill
        (10**15, None, True),  # absurd with or without a dataset
        (5_000_000, None, False),
        (-1, PER_EPOCH, True),
        (math.nan, PER_EPOCH, True),
        (math.inf, None, True),
        (1.5, PER_EPOCH, True),
        ("300", PER_EPOCH, True),
        (True, PER_EPOCH, True),
        (0, PER_EPOCH, False),
    ],
)
def test_trained_tokens_bounds(value: Any, per_epoch: int | None, refused: bool) -> None:
    assert (trained_tokens_problem(value, per_epoch) is not None) is refused


@pytest.mark.parametrize(
    ("prompt", "completion", "params", "refused"),
    [
        (120, 30, {"max_completion_tokens": 64}, False),
        (120, 65, {"max_completion_tokens": 64}, True),  # past the answer limit it asked for
        (-5, 3, {}, True),
        (3, math.nan, {}, True),
        (10**12, 3, {}, True),
        (3, 10**12, {}, True),
        (3, 4, {}, False),
    ],
)
def test_usage_bounds(prompt: Any, completion: Any, params: dict[str, Any], refused: bool) -> None:
    assert (usage_problem(prompt, completion, params) is not None) is refused


async def test_an_absurd_trained_tokens_is_refused_warned_and_never_summed(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    ds = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a", size_bytes=1)
    report = {"estimate": {"billed_tokens_per_epoch": PER_EPOCH, "n_epochs": 3}}
    async with store.transaction() as tx:
        await tx.execute("UPDATE datasets SET report = ? WHERE id = ?", (json.dumps(report), ds.id))
    await store.transition(ds.id, "detected", "creating_job")
    assert await store.add_job(
        ds.id, expected="creating_job", job_id="ftjob-1", status="running", model="m", metadata={}
    )
    row = await store.job("ftjob-1")
    assert row is not None
    provider = Provider("default")
    for absurd in (-1_363_000_000, 10**13, PER_EPOCH * MAX_EPOCHS * 3):
        told = RemoteJob(id="ftjob-1", status="succeeded", model="m", trained_tokens=absurd)
        believed = await believable_job(store, provider, row, told)
        assert believed.trained_tokens is None
        assert believed.status == "succeeded"  # the rest of the answer stands
    (warning,) = provider.health.warnings()
    assert warning["kind"] == "figure_refused"
    assert "trained_tokens" in warning["message"]
    fair = RemoteJob(id="ftjob-1", status="succeeded", model="m", trained_tokens=3 * PER_EPOCH)
    assert (await believable_job(store, provider, row, fair)).trained_tokens == 3 * PER_EPOCH
    # What the tracker writes from a refused figure: no tokens, so no cost in the spend.
    update = JobUpdate("ftjob-1", "succeeded", None, None, None, None, None, None, None, None)
    await store.record_cycle(Cycle(updates=[update]))
    assert (await spend(store, "openai", 0.0))["total"]["all_time"] == 0
    await store.close()


class Answering(Provider):
    kind = "scripted"

    def __init__(self, answer: ChatAnswer) -> None:
        super().__init__("default")
        self.answer = answer

    async def _op_chat(
        self, model: str, messages: Any, params: Any, request_timeout: float
    ) -> ChatAnswer:
        return self.answer


async def test_a_completion_with_absurd_usage_is_refused() -> None:
    from ftd.errors import RemoteError

    bad = Answering(ChatAnswer(text="x", prompt_tokens=-1_000_000, completion_tokens=5))
    with pytest.raises(RemoteError) as caught:
        await bad.chat(model="m", messages=[], params={}, request_timeout=5)
    assert not caught.value.retryable
    assert [w["kind"] for w in bad.health.warnings()] == ["figure_refused"]
    good = Answering(ChatAnswer(text="x", prompt_tokens=10, completion_tokens=5))
    answer = await good.chat(model="m", messages=[], params={}, request_timeout=5)
    assert answer.completion_tokens == 5
