"""The only module that talks to the provider: timeouts, bounded retries, errors by kind.

The SDK's own retries are off (``max_retries=0``): it would resend a create
whose answer was lost, making a second file or job. Reads are retried here,
with backoff, jitter and the server's ``retry-after``; creates are sent once,
and after any doubt the caller looks the object up by its tag before trying
again. Every failure becomes a ``RemoteError`` whose ``kind`` says what to do.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import openai

from ftd.errors import RemoteError
from ftd.logs import get_logger
from ftd.pace import Pace

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence
    from pathlib import Path

    from openai.types import FileObject, Model
    from openai.types.chat import ChatCompletion
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
    from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

    from ftd.config import ProviderSettings

T = TypeVar("T")
log = get_logger("ftd.remote")

# What a failure means for the caller.
TRANSIENT = "transient"  # try again later; for a create, look the object up first
RATE_LIMITED = "rate_limited"  # try again after retry_after
CAPPED = "capped"  # the provider's job caps (concurrent or daily): wait longer
QUOTA = "quota"  # billing; retrying never helps until a person acts
BLOCKED = "blocked"  # training_not_available: permanent
AUTH = "auth"
NOT_FOUND = "not_found"
INVALID = "invalid"  # the request itself is wrong

_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "credit_balance_exhausted",
        "organization_spend_limit_exceeded",
        "project_spend_limit_exceeded",
        "organization_usage_limit_exceeded",
        "billing_hard_limit_reached",
    }
)
MAX_RETRY_AFTER = 120.0


def classify(operation: str, exc: Exception) -> RemoteError:
    """Turn an SDK exception into a RemoteError with a kind and a retry hint."""
    if isinstance(exc, openai.APITimeoutError):
        return _error(operation, "timed out", TRANSIENT, retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return _error(operation, "connection failed", TRANSIENT, retryable=True)
    if not isinstance(exc, openai.APIStatusError):
        return _error(operation, f"{type(exc).__name__}: {exc}", TRANSIENT, retryable=True)
    status = exc.status_code
    code = exc.code if isinstance(exc.code, str) else None
    body = exc.body if isinstance(exc.body, dict) else {}
    message = str(body.get("message") or exc.message)
    retry_after = _retry_after(exc.response)
    if status == 403 and code == "training_not_available":
        kind, retryable = BLOCKED, False
    elif status in (401, 403):
        kind, retryable = AUTH, False
    elif status == 404:
        kind, retryable = NOT_FOUND, False
    elif status == 429 and code in _QUOTA_CODES:
        kind, retryable = QUOTA, False
    elif status == 429 and (code == "daily_rate_limit_exceeded" or "concurrent" in message.lower()):
        kind, retryable = CAPPED, True
    elif status in (408, 409, 429) or status >= 500:
        kind, retryable = (RATE_LIMITED if status == 429 else TRANSIENT), True
    else:
        kind, retryable = INVALID, False
    return RemoteError(
        operation,
        f"{status} {code or ''} {message}".replace("  ", " ").strip(),
        status=status,
        code=code,
        kind=kind,
        retryable=retryable,
        retry_after=retry_after,
    )


def backoff(attempt: int, base: float, ceiling: float, *, jitter: float = 0.25) -> float:
    """``base * 2**attempt`` up to ``ceiling``, less a random share of up to ``jitter``."""
    delay: float = min(ceiling, base * 2.0 ** max(0, attempt))
    return delay * (1 - jitter * random.random())


def client_for(provider: ProviderSettings, pace: Pace | None = None) -> openai.AsyncOpenAI:
    """The SDK client a provider profile describes; its own retries are always off.

    With a ``pace``, every answer's rate-limit headers are shown to it.
    """
    key = provider.require_api_key().get_secret_value()
    timeout = provider.timeout_seconds
    http_client = None
    if pace is not None:

        async def observe(response: Any) -> None:
            pace.observe(response.headers)

        http_client = openai.DefaultAsyncHttpxClient(event_hooks={"response": [observe]})
    endpoint = provider.azure.endpoint
    if provider.kind == "azure" and not provider.azure.use_v1_path and endpoint is not None:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=endpoint,
            api_version=provider.azure.api_version,
            api_key=key,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )
    organization = provider.openai.organization if provider.kind == "openai" else None
    project = provider.openai.project if provider.kind == "openai" else None
    return openai.AsyncOpenAI(
        api_key=key,
        base_url=provider.base_url,
        organization=organization,
        project=project,
        timeout=timeout,
        max_retries=0,
        http_client=http_client,
    )


def _error(operation: str, message: str, kind: str, *, retryable: bool) -> RemoteError:
    return RemoteError(operation, message, kind=kind, retryable=retryable)


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if 0 <= seconds <= MAX_RETRY_AFTER:
            return seconds
    return None


def _failed(error: RemoteError, *, attempts: int) -> RemoteError:
    """Log the final failure of a call once, whatever path gave up on it."""
    log.warning(
        "remote_failed",
        operation=error.operation,
        kind=error.kind,
        status=error.status,
        code=error.code,
        attempts=attempts,
    )
    return error


class Remote:
    """A provider session for one daemon; cheap to share between tasks."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        retries: int = 3,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        upload_timeout: float = 600.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        pace: Pace | None = None,
    ) -> None:
        self._client = client.with_options(max_retries=0)
        self._pace = pace if pace is not None else Pace(concurrency=16, per_minute=None)
        self._retries = retries
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._upload_timeout = upload_timeout
        self._sleep = sleep

    async def _read(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """A call that is safe to repeat: retried a bounded number of times."""
        attempt = 0
        while True:
            try:
                return await self._paced(call)
            except openai.OpenAIError as exc:
                error = classify(operation, exc)
                self._slow_down(error)
                if not error.retryable or attempt >= self._retries:
                    raise _failed(error, attempts=attempt + 1) from exc
                delay = error.retry_after
                if delay is None:
                    delay = backoff(attempt, self._base_delay, self._max_delay)
                attempt += 1
                log.info(
                    "remote_retry",
                    operation=operation,
                    kind=error.kind,
                    status=error.status,
                    attempt=attempt,
                    delay=round(delay, 3),
                )
                await self._sleep(delay)

    async def _create(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """A call that creates something: sent once, never repeated here."""
        log.info("remote_create", operation=operation)
        try:
            return await self._paced(call)
        except openai.OpenAIError as exc:
            error = classify(operation, exc)
            self._slow_down(error)
            raise _failed(error, attempts=1) from exc

    async def _paced(self, call: Callable[[], Awaitable[T]]) -> T:
        async with self._pace.slot():
            return await call()

    def _slow_down(self, error: RemoteError) -> None:
        if error.kind == RATE_LIMITED:
            self._pace.hold(error.retry_after or 1.0, "429 from the provider")

    async def upload(self, path: Path, filename: str) -> FileObject:
        def call() -> Awaitable[FileObject]:
            return self._client.files.create(
                file=(filename, path.read_bytes(), "application/jsonl"),
                purpose="fine-tune",
                timeout=self._upload_timeout,
            )

        return await self._create("upload_file", call)

    async def find_file(self, filename: str) -> FileObject | None:
        """The newest fine-tune file with this exact name (ftd's names carry the dataset hash)."""

        async def call() -> FileObject | None:
            page = await self._client.files.list(purpose="fine-tune", order="desc")
            async for item in page:
                if item.filename == filename:
                    return item
            return None

        return await self._read("find_file", call)

    async def file(self, file_id: str) -> FileObject:
        return await self._read("retrieve_file", lambda: self._client.files.retrieve(file_id))

    async def create_job(self, **params: Any) -> FineTuningJob:
        return await self._create(
            "create_job", lambda: self._client.fine_tuning.jobs.create(**params)
        )

    async def find_jobs(self, key: str, value: str) -> list[FineTuningJob]:
        """Jobs whose metadata has ``key=value``, newest first."""

        async def call() -> list[FineTuningJob]:
            page = await self._client.fine_tuning.jobs.list(metadata={key: value}, limit=100)
            return [job async for job in page]

        return await self._read("find_jobs", call)

    async def jobs_page(
        self, metadata: dict[str, str], after: str | None = None, limit: int = 100
    ) -> tuple[list[FineTuningJob], bool]:
        """One page of jobs with this metadata, newest first, and whether more follow."""

        async def call() -> tuple[list[FineTuningJob], bool]:
            page = await self._client.fine_tuning.jobs.list(
                metadata=metadata, limit=limit, after=after or openai.omit
            )
            return list(page.data), bool(page.has_more)

        return await self._read("list_jobs", call)

    async def events_page(
        self, job_id: str, after: str | None = None, limit: int = 100
    ) -> tuple[list[FineTuningJobEvent], bool]:
        """One page of a job's events, newest first; ``after`` pages toward older ones."""

        async def call() -> tuple[list[FineTuningJobEvent], bool]:
            page = await self._client.fine_tuning.jobs.list_events(
                job_id, limit=limit, after=after or openai.omit
            )
            return list(page.data), bool(page.has_more)

        return await self._read("list_events", call)

    async def checkpoints_page(
        self, job_id: str, after: str | None = None, limit: int = 100
    ) -> tuple[list[FineTuningJobCheckpoint], bool]:
        async def call() -> tuple[list[FineTuningJobCheckpoint], bool]:
            page = await self._client.fine_tuning.jobs.checkpoints.list(
                job_id, limit=limit, after=after or openai.omit
            )
            return list(page.data), bool(page.has_more)

        return await self._read("list_checkpoints", call)

    async def file_content(self, file_id: str) -> bytes:
        async def call() -> bytes:
            response = await self._client.files.content(file_id)
            return response.content

        return await self._read("file_content", call)

    async def model(self, name: str) -> Model:
        return await self._read("retrieve_model", lambda: self._client.models.retrieve(name))

    async def model_ids(self) -> list[str]:
        async def call() -> list[str]:
            page = await self._client.models.list()
            return [m.id async for m in page]

        return await self._read("list_models", call)

    async def job(self, job_id: str) -> FineTuningJob:
        return await self._read(
            "retrieve_job", lambda: self._client.fine_tuning.jobs.retrieve(job_id)
        )

    async def cancel_job(self, job_id: str) -> FineTuningJob:
        # Asking twice is harmless: a second cancel of a cancelled job is refused, not doubled.
        return await self._read("cancel_job", lambda: self._client.fine_tuning.jobs.cancel(job_id))

    async def pause_job(self, job_id: str) -> FineTuningJob:
        return await self._read("pause_job", lambda: self._client.fine_tuning.jobs.pause(job_id))

    async def resume_job(self, job_id: str) -> FineTuningJob:
        return await self._read("resume_job", lambda: self._client.fine_tuning.jobs.resume(job_id))

    async def delete_model(self, name: str) -> bool:
        async def call() -> bool:
            answer = await self._client.models.delete(name)
            return bool(answer.deleted)

        return await self._read("delete_model", call)

    async def chat(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        request_timeout: float,
    ) -> ChatCompletion:
        """One chat completion, sent once: the evaluation pool owns retries and back-off.

        Completions have per-model limits of their own at the provider, so this
        call does not take a slot of the shared pace; it only waits out a pause
        the provider asked for.
        """
        await self._pace.wait_clear()
        try:
            answer: ChatCompletion = await self._client.chat.completions.create(
                model=model,
                messages=list(messages),  # type: ignore[arg-type]
                timeout=request_timeout,
                **params,
            )
        except openai.OpenAIError as exc:
            error = classify("chat_completion", exc)
            log.debug(
                "remote_chat_failed",
                model=model,
                kind=error.kind,
                status=error.status,
                retry_after=error.retry_after,
            )
            raise error from exc
        return answer
