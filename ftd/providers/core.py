"""The rules every provider call obeys, written once for every adapter.

An adapter implements primitives (send this create, read this page, map this
error); this base class wraps each in the same discipline. Reads are retried
a bounded number of times with back-off, jitter and the server's
``retry-after``; creates are sent once, and after any doubt the caller looks
the object up by its tag before trying again. Every call has a total
deadline, takes a slot of the shared pace, and ends in a log line when it
fails for good. Found objects are checked to carry ftd's tag before they are
believed, and list walks are bounded in pages and stop on a cursor that does
not advance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ftd.errors import RemoteError
from ftd.figures import usage_problem
from ftd.logs import get_logger
from ftd.pace import Pace
from ftd.providers.batches import BatchOperations
from ftd.providers.bodies import TOO_LARGE
from ftd.providers.health import Health
from ftd.providers.kinds import INVALID, RATE_LIMITED, TRANSIENT, UNSUPPORTED, backoff
from ftd.providers.types import Capabilities

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence
    from pathlib import Path

    from ftd.providers.types import (
        ChatAnswer,
        Checkpoint,
        Deployment,
        Embeddings,
        JobEvent,
        RemoteFile,
        RemoteJob,
    )

T = TypeVar("T")
log = get_logger("ftd.providers")

# A walk through a listing stops after this many pages, whatever the server says of more.
MAX_PAGES = 50


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A fine-tuning job as ftd asks for it; each adapter renders it its provider's way.

    ``method`` is ``{"type": ..., <type>: {"hyperparameters": {...}, ...}}``;
    ``extra`` holds the provider-specific choices of the profile or sidecar
    (Azure's training tier), which only their adapter reads.
    """

    model: str
    training_file: str
    metadata: dict[str, str]
    method: dict[str, Any] = field(default_factory=lambda: {"type": "supervised"})
    validation_file: str | None = None
    suffix: str | None = None
    seed: int | None = None
    integrations: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallPolicy:
    retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    deadline: float = 120.0  # seconds for one call, all its attempts and waits included
    upload_timeout: float = 600.0
    files_api_max_bytes: int = 512 * 1024 * 1024
    upload_part_bytes: int = 64 * 1024 * 1024


class Provider(BatchOperations):
    """One provider profile's session; cheap to share between tasks.

    Subclasses set ``kind`` and ``capabilities`` and implement the ``_op_*``
    primitives and ``classify``; callers use only the public methods.
    """

    kind = "abstract"
    capabilities = Capabilities()

    def __init__(
        self,
        profile: str,
        *,
        policy: CallPolicy | None = None,
        pace: Pace | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.profile = profile
        self._policy = policy or CallPolicy()
        self._pace = pace if pace is not None else Pace(concurrency=16, per_minute=None)
        self._sleep = sleep
        self.health = Health(profile)

    # ------------------------------------------------------------------ discipline

    def classify(self, operation: str, exc: Exception) -> RemoteError:
        raise NotImplementedError

    def _error_of(self, operation: str, exc: Exception) -> RemoteError:
        if isinstance(exc, RemoteError):
            return exc
        return self.classify(operation, exc)

    async def _read(
        self, operation: str, call: Callable[[], Awaitable[T]], subject: str | None = None
    ) -> T:
        """A call that is safe to repeat: retried a bounded number of times, within a deadline.

        ``subject`` (a job's or file's id) keys its lasting errors in ``health``.
        """
        attempt = 0
        give_up = time.monotonic() + self._policy.deadline
        while True:
            try:
                with anyio.fail_after(max(0.001, give_up - time.monotonic())):
                    answer = await self._paced(call)
                self.health.succeeded(operation, subject)
                return answer
            except TimeoutError as exc:
                error = RemoteError(
                    operation,
                    f"no answer within the {self._policy.deadline:g} s deadline",
                    kind=TRANSIENT,
                    retryable=True,
                )
                raise self._failed(
                    error, attempts=attempt + 1, subject=subject, during=operation
                ) from exc
            except Exception as exc:
                if not self._is_remote_failure(exc):
                    raise
                error = self._error_of(operation, exc)
                self._slow_down(error)
                delay = error.retry_after
                if delay is None:
                    delay = backoff(attempt, self._policy.base_delay, self._policy.max_delay)
                late = time.monotonic() + delay >= give_up
                if not error.retryable or attempt >= self._policy.retries or late:
                    raise self._failed(
                        error, attempts=attempt + 1, subject=subject, during=operation
                    ) from exc
                attempt += 1
                log.info(
                    "remote_retry",
                    provider=self.profile,
                    operation=operation,
                    kind=error.kind,
                    status=error.status,
                    attempt=attempt,
                    delay=round(delay, 3),
                )
                await self._sleep(delay)

    async def _create(
        self, operation: str, call: Callable[[], Awaitable[T]], *, deadline: float | None = None
    ) -> T:
        """A call that creates something: sent once, never repeated here."""
        log.info("remote_create", provider=self.profile, operation=operation)
        limit = deadline if deadline is not None else self._policy.deadline
        try:
            with anyio.fail_after(limit):
                return await self._paced(call)
        except TimeoutError as exc:
            error = RemoteError(
                operation,
                f"no answer within the {limit:g} s deadline",
                kind=TRANSIENT,
                retryable=True,
            )
            raise self._failed(error, attempts=1, during=operation) from exc
        except Exception as exc:
            if not self._is_remote_failure(exc):
                raise
            error = self._error_of(operation, exc)
            self._slow_down(error)
            raise self._failed(error, attempts=1, during=operation) from exc

    def _is_remote_failure(self, exc: Exception) -> bool:
        """Whether an exception came from talking to the provider (not a bug of ours)."""
        return isinstance(exc, RemoteError)

    async def _paced(self, call: Callable[[], Awaitable[T]]) -> T:
        async with self._pace.slot():
            return await call()

    def _slow_down(self, error: RemoteError) -> None:
        if error.kind == RATE_LIMITED:
            self._pace.hold(error.retry_after or 1.0, "429 from the provider")

    def _failed(
        self,
        error: RemoteError,
        *,
        attempts: int,
        subject: str | None = None,
        during: str | None = None,
    ) -> RemoteError:
        """Log the final failure of a call once, whatever path gave up on it; keep it in health
        under the call's own name (``during``: the error may name an HTTP route instead)."""
        operation = during or error.operation
        self.health.failed(operation, subject, error)
        if error.code == TOO_LARGE:
            self.health.note("remote_answer_too_large", operation, str(error), subject)
        elif error.kind == TRANSIENT and "deadline" in str(error):
            self.health.note("remote_deadline", operation, str(error), subject)
        log.warning(
            "remote_failed",
            provider=self.profile,
            operation=error.operation,
            kind=error.kind,
            status=error.status,
            code=error.code,
            attempts=attempts,
        )
        return error

    def _unsupported(self, operation: str, what: str) -> RemoteError:
        return RemoteError(
            operation, f"{what} is not supported by the {self.kind} provider", kind=UNSUPPORTED
        )

    async def _walk(
        self,
        operation: str,
        page_of: Callable[[str | None], Awaitable[tuple[list[T], bool]]],
        cursor_of: Callable[[T], str],
        *,
        stop: Callable[[list[T]], bool] = lambda _page: False,
        max_pages: int = MAX_PAGES,
    ) -> list[T]:
        """Every item of a listing, bounded: ``max_pages`` pages, and a cursor must advance."""
        found: list[T] = []
        after: str | None = None
        seen_cursors: set[str] = set()
        for _ in range(max_pages):
            page, more = await page_of(after)
            found.extend(page)
            if not more or not page or stop(page):
                return found
            after = cursor_of(page[-1])
            if after in seen_cursors:
                log.warning("remote_cursor_stuck", provider=self.profile, operation=operation)
                self.health.note("remote_cursor_stuck", operation)
                return found
            seen_cursors.add(after)
        log.warning(
            "remote_pages_capped", provider=self.profile, operation=operation, pages=max_pages
        )
        self.health.note("remote_pages_capped", operation, f"{max_pages} pages")
        return found

    def _capped(
        self, operation: str, page: tuple[list[T], bool], limit: int
    ) -> tuple[list[T], bool]:
        """A page of at most ``limit`` items, whatever the server sent; the rest is read
        from the cursor of the last kept one, as if the server had paged properly."""
        items, more = page
        if len(items) <= limit:
            return items, more
        log.warning(
            "remote_page_oversized",
            provider=self.profile,
            operation=operation,
            items=len(items),
            limit=limit,
        )
        self.health.note("remote_page_oversized", operation, f"{len(items)} for {limit}")
        return items[:limit], True

    # ------------------------------------------------------------------ files

    async def upload(self, path: Path, filename: str) -> RemoteFile:
        """One file sent: in one request up to the Files API's limit, else in parts.

        Parts go through the Uploads API (create, parts, complete with the
        whole file's MD5, which the provider checks); the upload is cancelled
        if any step fails or it would expire first. Either way the caller
        looks the file up by its name after any doubt, before sending again.
        """
        size = (await anyio.Path(path).stat()).st_size
        if size <= self._policy.files_api_max_bytes:
            return await self._create(
                "upload_file",
                lambda: self._op_upload(path, filename),
                deadline=self._policy.upload_timeout,
            )
        if not self.capabilities.uploads:
            raise RemoteError(
                "upload_file",
                f"{filename} is {size:,} bytes, over the {self._policy.files_api_max_bytes:,} "
                f"bytes the {self.kind} provider takes in one file, and ftd sends files in parts "
                "only through OpenAI's Uploads API",
                kind=INVALID,
            )
        parts = -(-size // self._policy.upload_part_bytes)
        log.info("upload_in_parts", provider=self.profile, bytes=size, parts=parts)
        return await self._create(
            "upload_file_parts",
            lambda: self._op_upload_parts(path, filename, size, self._policy.upload_part_bytes),
            # Each part has its own request; the whole is given the time of one upload a part.
            deadline=self._policy.upload_timeout * max(1, parts),
        )

    async def find_file(self, filename: str) -> RemoteFile | None:
        """The newest fine-tune file with this exact name (ftd's names carry the dataset hash)."""
        return await self._read("find_file", lambda: self._op_find_file(filename))

    async def file(self, file_id: str) -> RemoteFile:
        return await self._read("retrieve_file", lambda: self._op_file(file_id))

    async def file_content(self, file_id: str) -> bytes:
        return await self._read(
            "file_content", lambda: self._op_file_content(file_id), subject=file_id
        )

    async def download(self, file_id: str, into: Path, max_bytes: int) -> int:
        """A file's content written to ``into`` as it arrives, never held whole; its size.

        Over ``max_bytes`` the download stops and fails with ``answer_too_large``
        (not retried: a file does not shrink).
        """
        return await self._read(
            "file_content", lambda: self._op_download(file_id, into, max_bytes), subject=file_id
        )

    # ------------------------------------------------------------------ jobs

    async def create_job(self, request: JobRequest) -> RemoteJob:
        return await self._create("create_job", lambda: self._op_create_job(request))

    async def find_jobs(self, key: str, value: str) -> list[RemoteJob]:
        """Jobs whose metadata has ``key=value``, newest first, each checked to carry it.

        A provider that filters on the server is asked to; one that does not is
        walked page by page (bounded). Either way a job is only believed to be
        ftd's if its own metadata says so: a server that ignores the filter
        cannot make ftd adopt someone else's job.
        """
        metadata = {key: value} if self.capabilities.metadata_filter else {}

        async def page_of(after: str | None) -> tuple[list[RemoteJob], bool]:
            return await self.jobs_page(metadata, after)

        jobs = await self._walk("find_jobs", page_of, lambda job: job.id)
        ours = [job for job in jobs if job.metadata.get(key) == value]
        if metadata and len(ours) < len(jobs):
            log.warning(
                "remote_filter_ignored", provider=self.profile, others=len(jobs) - len(ours)
            )
            self.health.note(
                "remote_filter_ignored", "find_jobs", f"{len(jobs) - len(ours)} not ours"
            )
        return ours

    async def jobs_page(
        self, metadata: Mapping[str, str], after: str | None = None, limit: int = 100
    ) -> tuple[list[RemoteJob], bool]:
        """One page of jobs, newest first, and whether more follow.

        ``metadata`` is sent as a filter only where the provider honours one;
        the caller checks what it gets.
        """
        sent = dict(metadata) if self.capabilities.metadata_filter else {}
        page = await self._read("list_jobs", lambda: self._op_jobs_page(sent, after, limit))
        return self._capped("list_jobs", page, limit)

    async def job(self, job_id: str) -> RemoteJob:
        return await self._read("retrieve_job", lambda: self._op_job(job_id), subject=job_id)

    async def cancel_job(self, job_id: str) -> RemoteJob:
        # Asking twice is harmless: a second cancel of a cancelled job is refused, not doubled.
        return await self._read("cancel_job", lambda: self._op_control(job_id, "cancel"))

    async def pause_job(self, job_id: str) -> RemoteJob:
        if not self.capabilities.pause:
            raise self._unsupported("pause_job", "pausing a job")
        return await self._read("pause_job", lambda: self._op_control(job_id, "pause"))

    async def resume_job(self, job_id: str) -> RemoteJob:
        if not self.capabilities.pause:
            raise self._unsupported("resume_job", "resuming a job")
        return await self._read("resume_job", lambda: self._op_control(job_id, "resume"))

    async def events_page(
        self, job_id: str, after: str | None = None, limit: int = 100
    ) -> tuple[list[JobEvent], bool]:
        """One page of a job's events, newest first; ``after`` pages toward older ones."""
        page = await self._read(
            "list_events", lambda: self._op_events_page(job_id, after, limit), subject=job_id
        )
        return self._capped("list_events", page, limit)

    async def checkpoints_page(
        self, job_id: str, after: str | None = None, limit: int = 100
    ) -> tuple[list[Checkpoint], bool]:
        if not self.capabilities.checkpoints:
            return [], False
        page = await self._read(
            "list_checkpoints",
            lambda: self._op_checkpoints_page(job_id, after, limit),
            subject=job_id,
        )
        return self._capped("list_checkpoints", page, limit)

    # ------------------------------------------------------------------ models

    async def model(self, name: str) -> None:
        """Nothing if the provider serves this model; a NOT_FOUND RemoteError if not."""
        await self._read("retrieve_model", lambda: self._op_model(name))

    async def model_ids(self) -> list[str]:
        return await self._read("list_models", self._op_model_ids)

    async def retirements(self) -> dict[str, str]:
        """Model -> the ISO date it stops answering, as the provider itself lists it.

        Empty where the provider publishes none through its API (ftd's catalogue
        then speaks for it).
        """
        return await self._read("list_retirements", self._op_retirements)

    async def delete_model(self, name: str) -> bool:
        if not self.capabilities.delete_model:
            raise self._unsupported("delete_model", "deleting a model")
        return await self._read("delete_model", lambda: self._op_delete_model(name))

    async def chat(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        request_timeout: float,
    ) -> ChatAnswer:
        """One chat completion, sent once: the evaluation pool owns retries and back-off.

        Completions have per-model limits of their own at the provider, so this
        call does not take a slot of the shared pace; it only waits out a pause
        the provider asked for.
        """
        answer = await self._sent_once(
            "chat_completion",
            "remote_chat_failed",
            model,
            request_timeout,
            lambda: self._op_chat(model, messages, params, request_timeout),
        )
        problem = usage_problem(answer.prompt_tokens, answer.completion_tokens, params)
        if problem is not None:
            log.warning("figure_refused", provider=self.profile, model=model, problem=problem)
            self.health.note("figure_refused", "chat_completion usage", problem)
            raise RemoteError("chat_completion", f"usage refused: {problem}", kind=INVALID)
        return answer

    async def _sent_once(
        self,
        operation: str,
        event: str,
        model: str,
        request_timeout: float,
        send: Callable[[], Awaitable[T]],
    ) -> T:
        """One send of an evaluation request (its pool owns retries) under a total
        deadline, after any pause the provider asked for; a failure as a RemoteError."""
        await self._pace.wait_clear()
        try:
            with anyio.fail_after(request_timeout + 5.0):
                return await send()
        except TimeoutError as exc:
            raise RemoteError(
                operation,
                f"no answer within {request_timeout:g} s",
                kind=TRANSIENT,
                retryable=True,
            ) from exc
        except Exception as exc:
            if not self._is_remote_failure(exc):
                raise
            error = self._error_of(operation, exc)
            log.debug(
                event,
                provider=self.profile,
                model=model,
                kind=error.kind,
                status=error.status,
                retry_after=error.retry_after,
            )
            raise error from exc

    async def embed(
        self,
        *,
        model: str,
        texts: Sequence[str],
        request_timeout: float,
        dimensions: int | None = None,
    ) -> Embeddings:
        """The embeddings of ``texts`` (one vector each, in order), sent once like a chat:
        the evaluation pool owns retries, and the call waits only for a pause the
        provider asked for."""
        if not self.capabilities.embeddings:
            raise self._unsupported("embeddings", "computing embeddings")
        if not texts or any(not text for text in texts):
            raise RemoteError("embeddings", "every text to embed must be non-empty", kind=INVALID)
        answer = await self._sent_once(
            "embeddings",
            "remote_embeddings_failed",
            model,
            request_timeout,
            lambda: self._op_embed(model, texts, dimensions, request_timeout),
        )
        if dimensions is not None and len(answer.vectors[0]) != dimensions:
            raise RemoteError(
                "embeddings",
                f"asked for {dimensions} dimensions, answered {len(answer.vectors[0])}",
                kind=INVALID,
            )
        return answer

    # ------------------------------------------------------------------ deployments

    async def deploy(self, name: str, model: str) -> Deployment:
        """Ask for ``model`` to be served as ``name``; repeating the same ask is harmless."""
        if not self.capabilities.needs_deployment:
            raise self._unsupported("deploy", "deploying a model")
        return await self._read("deploy", lambda: self._op_deploy(name, model))

    async def deployment(self, name: str) -> Deployment | None:
        if not self.capabilities.needs_deployment:
            return None
        return await self._read("get_deployment", lambda: self._op_deployment(name))

    async def deployments(self) -> list[Deployment]:
        if not self.capabilities.needs_deployment:
            return []
        return await self._read("list_deployments", self._op_deployments)

    async def undeploy(self, name: str) -> None:
        """Remove a deployment; one already gone is no error."""
        if not self.capabilities.needs_deployment:
            return
        await self._read("delete_deployment", lambda: self._op_undeploy(name))

    async def served_without_deployment(self, model: str) -> bool:
        """Whether ``model`` answers as it is, where deployments exist (Together's
        serverless LoRA); False means a deployment is needed."""
        return False

    def serving_name(self, model: str) -> str:
        """The name chat calls take for ``model`` (a deployment's name where one is needed)."""
        return model

    async def close(self) -> None:
        """Release connections; the provider is not used afterwards."""

    # ------------------------------------------------------------------ primitives

    async def _op_upload(self, path: Path, filename: str) -> RemoteFile:
        raise NotImplementedError

    async def _op_find_file(self, filename: str) -> RemoteFile | None:
        raise NotImplementedError

    async def _op_file(self, file_id: str) -> RemoteFile:
        raise NotImplementedError

    async def _op_file_content(self, file_id: str) -> bytes:
        raise NotImplementedError

    async def _op_create_job(self, request: JobRequest) -> RemoteJob:
        raise NotImplementedError

    async def _op_jobs_page(
        self, metadata: dict[str, str], after: str | None, limit: int
    ) -> tuple[list[RemoteJob], bool]:
        raise NotImplementedError

    async def _op_job(self, job_id: str) -> RemoteJob:
        raise NotImplementedError

    async def _op_control(self, job_id: str, action: str) -> RemoteJob:
        raise NotImplementedError

    async def _op_events_page(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[JobEvent], bool]:
        raise NotImplementedError

    async def _op_checkpoints_page(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[Checkpoint], bool]:
        raise NotImplementedError

    async def _op_model(self, name: str) -> None:
        raise NotImplementedError

    async def _op_model_ids(self) -> list[str]:
        raise NotImplementedError

    async def _op_delete_model(self, name: str) -> bool:
        raise NotImplementedError

    async def _op_download(self, file_id: str, into: Path, max_bytes: int) -> int:
        raise NotImplementedError

    async def _op_upload_parts(
        self, path: Path, filename: str, size: int, part_bytes: int
    ) -> RemoteFile:
        raise NotImplementedError

    async def _op_retirements(self) -> dict[str, str]:
        return {}

    async def _op_chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        request_timeout: float,
    ) -> ChatAnswer:
        raise NotImplementedError

    async def _op_embed(
        self,
        model: str,
        texts: Sequence[str],
        dimensions: int | None,
        request_timeout: float,
    ) -> Embeddings:
        raise NotImplementedError

    async def _op_deploy(self, name: str, model: str) -> Deployment:
        raise NotImplementedError

    async def _op_deployment(self, name: str) -> Deployment | None:
        raise NotImplementedError

    async def _op_deployments(self) -> list[Deployment]:
        raise NotImplementedError

    async def _op_undeploy(self, name: str) -> None:
        raise NotImplementedError
