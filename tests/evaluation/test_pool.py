"""The pool: per-model bounds, shrinking on 429s and growing back, retry-after, failures kept."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import pytest

from ftd.errors import RemoteError
from ftd.evaluation.limits import AdaptiveLimit, Limits
from ftd.evaluation.pool import EvaluationAborted, Requester, RequestFailed, run_all
from ftd.providers import ChatAnswer, Embeddings
from ftd.providers.kinds import AUTH, INVALID, RATE_LIMITED, TRANSIENT

pytestmark = pytest.mark.anyio


def completion(text: str) -> ChatAnswer:
    return ChatAnswer(text=text, prompt_tokens=3, completion_tokens=2, finish_reason="stop")


class FakeProvider:
    """Answers after ``delay``; fails as ``script`` says, call by call; notes what it saw."""

    def __init__(self, delay: float = 0.01, script: Sequence[RemoteError | None] = ()) -> None:
        self.delay = delay
        self.script = list(script)
        self.calls = 0
        self.active = 0
        self.most = 0
        self.started: list[float] = []

    async def chat(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        request_timeout: float,
    ) -> ChatAnswer:
        self.calls += 1
        self.started.append(time.monotonic())
        self.active += 1
        self.most = max(self.most, self.active)
        try:
            await anyio.sleep(self.delay)
            failure = self.script.pop(0) if self.script else None
            if failure is not None:
                raise failure
            return completion(f"answer to {messages[-1]['content']}")
        finally:
            self.active -= 1


def limited(retry_after: float | None = 0.05) -> RemoteError:
    return RemoteError(
        "chat", "429", status=429, kind=RATE_LIMITED, retryable=True, retry_after=retry_after
    )


def requester(provider: FakeProvider, limits: Limits, attempts: int = 5) -> Requester:
    return Requester(
        provider.chat, limits, None, attempts=attempts, timeout=5.0, base_delay=0.01, max_delay=0.02
    )


def ask(index: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"q{index}"}]


async def test_requests_to_a_model_never_exceed_its_limit() -> None:
    provider = FakeProvider(delay=0.02)
    limits = Limits(lambda model: 4 if model == "small" else 16)
    pool = requester(provider, limits)
    results: list[str] = []

    async def item(index: int) -> None:
        answer = await pool.complete("small", ask(index), {})
        results.append(answer.text)

    await run_all(range(40), item, in_flight=40)
    assert len(results) == 40
    assert provider.most == 4
    assert limits("small").peak == 4
    assert limits("small").in_flight == 0


async def test_a_429_halves_the_limit_once_per_round_and_successes_grow_it_back() -> None:
    limit = AdaptiveLimit("m", ceiling=8)
    tickets = []
    for _ in range(8):
        async with limit.slot() as ticket:
            tickets.append(ticket)
    for ticket in tickets:  # eight answers of one round, all 429
        limit.rate_limited(ticket, 0.0)
    assert limit.limit == 4  # halved once, not eight times
    async with limit.slot() as later:
        pass
    limit.rate_limited(later, 0.0)  # a request of the new round halves it again
    assert limit.limit == 2
    for _ in range(2):
        limit.succeeded()
    assert limit.limit == 3  # a round of successes as large as the limit adds one
    for _ in range(200):
        limit.succeeded()
    assert limit.limit == 8  # never beyond the ceiling
    for _ in range(20):
        async with limit.slot() as ticket:
            limit.rate_limited(ticket, 0.0)
    assert limit.limit == 1  # never below the floor


async def test_retry_after_holds_every_request_to_that_model() -> None:
    provider = FakeProvider(delay=0.0, script=[limited(0.3)])
    limits = Limits(lambda _model: 4)
    pool = requester(provider, limits)
    first = await pool.complete("m", ask(0), {})
    assert first.attempts == 2
    assert provider.started[1] - provider.started[0] >= 0.29
    # Another request during a hold waits too.
    limit = limits("m")
    async with limit.slot() as ticket:
        limit.rate_limited(ticket, 0.2)
    started = time.monotonic()
    await pool.complete("m", ask(1), {})
    assert time.monotonic() - started >= 0.19
    assert limit.shrinks == 2
    assert limit.limit == 2  # 4 -> 2 -> 1, and one success at 1 is a whole round: back to 2


async def test_a_storm_of_429s_slows_the_pool_and_every_request_ends_answered() -> None:
    script: list[RemoteError | None] = [limited(0.02) if i % 3 == 0 else None for i in range(90)]
    provider = FakeProvider(delay=0.005, script=script)
    limits = Limits(lambda _model: 16)
    pool = requester(provider, limits, attempts=50)
    answered: list[int] = []

    async def item(index: int) -> None:
        await pool.complete("m", ask(index), {})
        answered.append(index)

    await run_all(range(60), item, in_flight=60)
    assert sorted(answered) == list(range(60))
    assert limits("m").shrinks >= 1
    assert pool.retries == provider.calls - 60


async def test_failures_are_reported_with_their_reason_and_attempts() -> None:
    server_error = RemoteError("chat", "503 overloaded", status=503, kind=TRANSIENT, retryable=True)
    provider = FakeProvider(delay=0.0, script=[server_error] * 3)
    with pytest.raises(RequestFailed) as caught:
        await requester(provider, Limits(lambda _m: 2), attempts=3).complete("m", ask(0), {})
    assert caught.value.attempts == 3
    assert "503 overloaded" in str(caught.value)
    assert "after 3 attempts" in str(caught.value)

    bad = RemoteError("chat", "400 bad request", status=400, kind=INVALID, retryable=False)
    provider = FakeProvider(delay=0.0, script=[bad])
    with pytest.raises(RequestFailed) as refused:
        await requester(provider, Limits(lambda _m: 2)).complete("m", ask(0), {})
    assert refused.value.attempts == 1  # retrying cannot fix the request

    key = RemoteError("chat", "401 bad key", status=401, kind=AUTH, retryable=False)
    provider = FakeProvider(delay=0.0, script=[key])
    with pytest.raises(EvaluationAborted, match="401"):
        await requester(provider, Limits(lambda _m: 2)).complete("m", ask(0), {})


async def test_run_all_bounds_the_items_in_flight_and_stops_admitting_when_told() -> None:
    running = 0
    most = 0

    async def item(_index: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await anyio.sleep(0.005)
        running -= 1

    assert await run_all(range(30), item, in_flight=3) == 30
    assert most == 3
    admitted = iter([True] * 5 + [False] * 100)
    assert await run_all(range(30), item, in_flight=3, admit=lambda: next(admitted)) == 5


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    limit = AdaptiveLimit("m", ceiling=1)
    async with limit.slot():
        with anyio.move_on_after(0.05):
            async with limit.slot():
                pytest.fail("admitted beyond the limit")
        assert limit.in_flight == 1
    async with limit.slot():
        assert limit.in_flight == 1
    assert limit.in_flight == 0


async def test_a_similarity_is_retried_like_a_completion_and_is_the_embeddings_cosine() -> None:
    failures = [RemoteError("embeddings", "503", status=503, kind=TRANSIENT, retryable=True)]
    asked: list[list[str]] = []

    async def embed(*, model: str, texts: Sequence[str], request_timeout: float) -> Embeddings:
        asked.append(list(texts))
        if failures:
            raise failures.pop(0)
        return Embeddings(vectors=((1.0, 0.0), (1.0, 1.0)), prompt_tokens=7, model=model)

    pool = Requester(
        FakeProvider().chat,
        Limits(lambda _model: 2),
        None,
        attempts=3,
        timeout=5.0,
        base_delay=0.01,
        max_delay=0.02,
        embed=embed,
    )
    found = await pool.similarity("text-embedding-3-small", "a text", "its reference")
    assert asked == [["a text", "its reference"]] * 2
    assert float(found.text) == pytest.approx(2**-0.5)
    assert (found.attempts, found.prompt_tokens, found.completion_tokens) == (2, 7, 0)
    assert found.cache_row() is not None  # an answer to keep, as a completion's is
    failures.extend([RemoteError("embeddings", "400", status=400, kind=INVALID, retryable=False)])
    with pytest.raises(RequestFailed) as failed:
        await pool.similarity("text-embedding-3-small", "a text", "its reference")
    assert failed.value.attempts == 1
    without = Requester(FakeProvider().chat, Limits(lambda _model: 2), None, attempts=3, timeout=5)
    with pytest.raises(RequestFailed, match="no embeddings call"):
        await without.similarity("text-embedding-3-small", "a", "b")
