"""The worker pool: items run concurrently, every request through its model's adaptive limit.

The pool owns retries, so it can count attempts and slow a model down on a
429: a rate-limited request shrinks its model's limit and waits out
``retry-after`` (the limit holds every request to that model meanwhile);
a timeout, a dropped connection or a 5xx waits a jittered back-off. A request
that still fails after the configured attempts, or fails in a way retrying
cannot fix (a 400, a model that does not exist), fails its item, which is
recorded with the reason: no item is ever dropped. A refused key or an
exhausted quota stops the whole evaluation, since every item would fail alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ftd.errors import FtdError, RemoteError
from ftd.evaluation.cache import CachedAnswer, cache_key
from ftd.evaluation.similarity import cosine
from ftd.logs import get_logger
from ftd.providers.kinds import AUTH, CAPPED, QUOTA, RATE_LIMITED, backoff

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

    from ftd.evaluation.cache import ResponseCache
    from ftd.evaluation.limits import Limits
    from ftd.providers import ChatAnswer, Embeddings

T = TypeVar("T")
A = TypeVar("A")
log = get_logger("ftd.evaluation.pool")
FATAL_KINDS = frozenset({AUTH, QUOTA})


class RequestFailed(FtdError):
    """One request gave up: the item it belonged to is recorded as an error with this reason."""

    def __init__(self, model: str, reason: str, attempts: int) -> None:
        super().__init__(f"{model}: {reason} (after {attempts} attempt{'s' * (attempts != 1)})")
        self.model = model
        self.reason = reason
        self.attempts = attempts


class EvaluationAborted(FtdError):
    """Every request would fail alike (key refused, quota spent): stop, keep what is done."""


@dataclass(frozen=True, slots=True)
class Completion:
    model: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    attempts: int
    cached: bool
    key: str

    def cache_row(self) -> tuple[str, str, str, int, int] | None:
        """What to store in the cache, once the item it belongs to commits; None if a hit."""
        if self.cached:
            return None
        return (self.key, self.model, self.text, self.prompt_tokens, self.completion_tokens)


class Requester:
    """Asks a model for a completion (or two texts' embeddings): from the cache, else
    through its limit with retries."""

    def __init__(
        self,
        chat: Callable[..., Awaitable[ChatAnswer]],
        limits: Limits,
        cache: ResponseCache | None,
        *,
        attempts: int,
        timeout: float,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        embed: Callable[..., Awaitable[Embeddings]] | None = None,
    ) -> None:
        self._chat = chat
        self._embed = embed
        self._limits = limits
        self._cache = cache
        self.attempts = attempts
        self.timeout = timeout
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self.requests = 0
        self.retries = 0

    async def complete(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        *,
        repeat: int = 0,
    ) -> Completion:
        key = cache_key(model, messages, params, repeat=repeat)
        if self._cache is not None:
            hit = await self._cache.get(key)
            if hit is not None:
                return _from_cache(model, key, hit)

        def send() -> Awaitable[ChatAnswer]:
            return self._chat(
                model=model, messages=list(messages), params=params, request_timeout=self.timeout
            )

        answer, started, attempts = await self._attempted(model, send)
        return _from_answer(model, key, answer, started, attempts)

    async def similarity(self, model: str, first: str, second: str) -> Completion:
        """The cosine of two texts' embeddings by ``model``, as a completion whose text is
        the number: one request for both texts, cached like any completion.

        The cache keeps the cosine, not the vectors: they serve this one number, and two
        vectors of 1,536 floats an answer would outweigh every other row of the cache.
        """
        key = cache_key(model, [{"embed": first}, {"embed": second}], {"cosine": True})
        if self._cache is not None:
            hit = await self._cache.get(key)
            if hit is not None:
                return _from_cache(model, key, hit)
        if self._embed is None:
            raise RequestFailed(model, "this evaluation has no embeddings call", 0)
        embed = self._embed

        def send() -> Awaitable[Embeddings]:
            return embed(model=model, texts=[first, second], request_timeout=self.timeout)

        answer, started, attempts = await self._attempted(model, send)
        value = cosine(answer.vectors[0], answer.vectors[1])
        return Completion(
            model,
            repr(value),
            answer.prompt_tokens,
            0,
            round((time.perf_counter() - started) * 1000, 1),
            attempts,
            cached=False,
            key=key,
        )

    async def _attempted(
        self, model: str, send: Callable[[], Awaitable[A]]
    ) -> tuple[A, float, int]:
        """One request through its model's limit, retried as the module says:
        the answer, when its last attempt started, and how many attempts it took."""
        limit = self._limits(model)
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            async with limit.slot() as ticket:
                self.requests += 1
                try:
                    answer = await send()
                except RemoteError as exc:
                    error = exc
                    if exc.kind in (RATE_LIMITED, CAPPED):
                        limit.rate_limited(ticket, exc.retry_after)
                else:
                    limit.succeeded()
                    return answer, started, attempt
            if error.kind in FATAL_KINDS:
                raise EvaluationAborted(str(error)) from error
            if not error.retryable or attempt >= self.attempts:
                log.warning(
                    "eval_request_failed",
                    model=model,
                    kind=error.kind,
                    status=error.status,
                    attempts=attempt,
                    error=str(error),
                )
                raise RequestFailed(model, str(error), attempt) from error
            self.retries += 1
            delay = 0.0
            if error.kind not in (RATE_LIMITED, CAPPED):
                delay = error.retry_after or backoff(attempt - 1, self._base_delay, self._max_delay)
            log.info(
                "eval_request_retry",
                model=model,
                kind=error.kind,
                status=error.status,
                attempt=attempt,
                delay=round(delay, 3),
            )
            if delay:
                await self._sleep(delay)


def _from_cache(model: str, key: str, hit: CachedAnswer) -> Completion:
    return Completion(
        model, hit.text, hit.prompt_tokens, hit.completion_tokens, 0.0, 0, cached=True, key=key
    )


def _from_answer(
    model: str, key: str, answer: ChatAnswer, started: float, attempts: int
) -> Completion:
    return Completion(
        model,
        answer.text,
        answer.prompt_tokens,
        answer.completion_tokens,
        round((time.perf_counter() - started) * 1000, 1),
        attempts,
        cached=False,
        key=key,
    )


async def run_all(
    items: Iterable[T],
    work: Callable[[T], Awaitable[None]],
    *,
    in_flight: int,
    admit: Callable[[], bool] = lambda: True,
) -> int:
    """Run ``work`` on each item, at most ``in_flight`` at once, in order of starting.

    ``admit`` is asked before each item starts; once it says no, no more start
    (the items already running finish). Returns how many were started.
    """
    started = 0
    slots = anyio.Semaphore(in_flight)

    async def one(item: T) -> None:
        try:
            await work(item)
        finally:
            slots.release()

    async with anyio.create_task_group() as tg:
        for item in items:
            await slots.acquire()
            if not admit():
                slots.release()
                break
            started += 1
            tg.start_soon(one, item)
    return started
