"""The OpenAI adapter (also any server that speaks OpenAI's API): the official SDK, translated.

The SDK's own retries are off (``max_retries=0``): it would resend a create
whose answer was lost, making a second file or job; the core's rules decide
what is repeated. Every SDK object is turned into ftd's records here, so no
SDK type leaves this module.
"""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import anyio
import openai

from ftd.errors import RemoteError
from ftd.logs import get_logger
from ftd.providers import rawanswer, rawembeddings, rawpages
from ftd.providers.bodies import too_large
from ftd.providers.core import Provider
from ftd.providers.kinds import (
    AUTH,
    BLOCKED,
    CAPPED,
    INVALID,
    NOT_FOUND,
    QUOTA,
    RATE_LIMITED,
    TRANSIENT,
    retry_after_seconds,
)
from ftd.providers.openai_batches import OpenAIBatches
from ftd.providers.types import (
    Capabilities,
    ChatAnswer,
    Checkpoint,
    Embeddings,
    JobError,
    JobEvent,
    RemoteFile,
    RemoteJob,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from openai.types import FileObject
    from openai.types.chat import ChatCompletion
    from openai.types.fine_tuning import FineTuningJob
    from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

    from ftd.providers.core import JobRequest
    from ftd.providers.fastchat import ChatSession

log = get_logger("ftd.providers")
# A list page's timeout when the SDK client's own cannot be read (it always can, as configured).
DEFAULT_PAGE_TIMEOUT = 60.0
# An upload whose parts would still be going this close to its expiry is given up on.
UPLOAD_EXPIRY_MARGIN = 60.0
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


def classify(operation: str, exc: Exception) -> RemoteError:
    """Turn an SDK exception into a RemoteError with a kind and a retry hint."""
    if isinstance(exc, openai.APITimeoutError):
        return RemoteError(operation, "timed out", kind=TRANSIENT, retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return RemoteError(operation, "connection failed", kind=TRANSIENT, retryable=True)
    if not isinstance(exc, openai.APIStatusError):
        return RemoteError(
            operation, f"{type(exc).__name__}: {exc}", kind=TRANSIENT, retryable=True
        )
    code = exc.code if isinstance(exc.code, str) else None
    body = exc.body if isinstance(exc.body, dict) else {}
    message = str(body.get("message") or exc.message)
    headers = getattr(exc.response, "headers", None)
    return http_error(operation, exc.status_code, code, message, headers)


def http_error(
    operation: str, status: int, code: str | None, message: str, headers: object
) -> RemoteError:
    """A failed HTTP answer as a RemoteError: its kind, and the wait the server asked for."""
    kind, retryable = kind_of(status, code, message)
    return RemoteError(
        operation,
        f"{status} {code or ''} {message}".replace("  ", " ").strip(),
        status=status,
        code=code,
        kind=kind,
        retryable=retryable,
        retry_after=retry_after_seconds(headers),
    )


def kind_of(status: int, code: str | None, message: str) -> tuple[str, bool]:
    """(kind, retryable) of an HTTP failure, by OpenAI's status and error codes."""
    if status == 403 and code == "training_not_available":
        return BLOCKED, False
    if status in (401, 403):
        return AUTH, False
    if status == 404:
        return NOT_FOUND, False
    if status == 429 and code in _QUOTA_CODES:
        return QUOTA, False
    if status == 429 and (code == "daily_rate_limit_exceeded" or "concurrent" in message.lower()):
        return CAPPED, True
    if status in (408, 409, 429) or status >= 500:
        return (RATE_LIMITED if status == 429 else TRANSIENT), True
    return INVALID, False


def file_of(item: FileObject) -> RemoteFile:
    return RemoteFile(
        id=item.id,
        filename=item.filename,
        status=item.status,
        bytes=item.bytes,
        status_details=item.status_details,
        provider_status=item.status,
    )


def job_of(job: FineTuningJob) -> RemoteJob:
    error = job.error
    code = error.code if error is not None and error.code else None
    return RemoteJob(
        id=job.id,
        status=job.status,
        model=job.model,
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        estimated_finish=float(job.estimated_finish) if job.estimated_finish else None,
        error=JobError(code, error.message or None, error.param or None)
        if error is not None and code
        else None,
        result_files=tuple(job.result_files or ()),
        metadata={str(k): str(v) for k, v in (job.metadata or {}).items()},
        created_at=float(job.created_at) if job.created_at else None,
        provider_status=job.status,
    )


def checkpoint_of(item: FineTuningJobCheckpoint) -> Checkpoint:
    metrics = item.metrics.model_dump(exclude_none=True)
    return Checkpoint(
        id=item.id,
        step=item.step_number,
        model=item.fine_tuned_model_checkpoint,
        metrics={k: v for k, v in metrics.items() if isinstance(v, int | float)} or None,
        created_at=item.created_at,
    )


def answer_of(answer: ChatCompletion) -> ChatAnswer:
    choice = answer.choices[0] if answer.choices else None
    message = choice.message if choice is not None else None
    text = ""
    if message is not None:
        if message.content is not None:
            text = message.content
        elif message.tool_calls:
            text = "[" + ",".join(call.model_dump_json() for call in message.tool_calls) + "]"
        elif message.refusal:
            text = message.refusal
    usage = answer.usage
    return ChatAnswer(
        text=text,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        finish_reason=choice.finish_reason if choice is not None else None,
        model=answer.model,
        usage=usage.model_dump() if usage else None,
    )


def job_body(request: JobRequest) -> dict[str, Any]:
    """The create body OpenAI's API takes; providers that speak it alike reuse it."""
    body: dict[str, Any] = {
        "model": request.model,
        "training_file": request.training_file,
        "method": request.method,
        "metadata": request.metadata,
    }
    if request.validation_file is not None:
        body["validation_file"] = request.validation_file
    if request.suffix is not None:
        body["suffix"] = request.suffix
    if request.seed is not None:
        body["seed"] = request.seed
    if request.integrations:
        body["integrations"] = request.integrations
    return body


def md5_of(path: Path) -> str:
    """The hex MD5 of a file, read a block at a time (the Uploads API checks it)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class OpenAIProvider(OpenAIBatches, Provider):
    kind = "openai"
    capabilities = Capabilities(
        pause=True, metadata_filter=True, uploads=True, batch=True, embeddings=True
    )
    # Completions, embeddings and the tracker's list pages over aiohttp (fastchat), where
    # the headers say all a request needs.
    plain_chat = True

    def __init__(
        self,
        profile: str,
        client: openai.AsyncOpenAI,
        *,
        announced: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(profile, **options)
        self._client = client.with_options(max_retries=0)
        self._chats: ChatSession | None = None
        # OpenAI announces shutdown dates on a web page, not through its API: an OpenAI
        # profile is given the catalogue's; a compatible server has its own life.
        self._announced = dict(announced or {})

    def classify(self, operation: str, exc: Exception) -> RemoteError:
        return classify(operation, exc)

    async def _op_retirements(self) -> dict[str, str]:
        return dict(self._announced)

    def _is_remote_failure(self, exc: Exception) -> bool:
        return isinstance(exc, RemoteError | openai.OpenAIError)

    async def close(self) -> None:
        if self._chats is not None:
            await self._chats.close()
        await self._client.close()

    def _chat_session(self) -> ChatSession | None:
        """Completions and list pages over aiohttp where the client's headers say it all.

        Not for an adapter that says otherwise (Azure), nor for a key that is a token
        provider (its headers change between requests): those go through the SDK.
        """
        client = self._client
        if not self.plain_chat or not isinstance(client.api_key, str):
            return None
        if self._chats is None:
            from ftd.providers.fastchat import ChatSession  # aiohttp: not before a chat

            headers = {**client.default_headers, **client.auth_headers}
            self._chats = ChatSession(
                str(client.base_url),
                {k: v for k, v in headers.items() if isinstance(v, str)},  # not the SDK's Omit
                http_error,
                self._pace.observe,
            )
        return self._chats

    # ------------------------------------------------------------------ files

    def _upload_options(self) -> dict[str, Any]:
        return {}

    async def _op_upload(self, path: Path, filename: str) -> RemoteFile:
        data = await anyio.Path(path).read_bytes()
        item = await self._client.files.create(
            file=(filename, data, "application/jsonl"),
            purpose="fine-tune",
            timeout=self._policy.upload_timeout,
            **self._upload_options(),
        )
        return file_of(item)

    async def _op_upload_parts(
        self, path: Path, filename: str, size: int, part_bytes: int
    ) -> RemoteFile:
        digest = await anyio.to_thread.run_sync(md5_of, path)
        timeout = self._policy.upload_timeout
        upload = await self._client.uploads.create(
            bytes=size,
            filename=filename,
            mime_type="text/jsonl",
            purpose="fine-tune",
            timeout=timeout,
            **self._upload_options(),
        )
        # The server's lifetime for the upload, on ftd's own clock (the two clocks may differ).
        lifetime = float(upload.expires_at) - float(upload.created_at)
        expires = time.monotonic() + lifetime - UPLOAD_EXPIRY_MARGIN
        part_ids: list[str] = []
        try:
            if upload.status != "pending":
                raise RemoteError(
                    "upload_file_parts", f"upload {upload.id} is {upload.status}, not pending"
                )
            async with await anyio.open_file(path, "rb") as source:
                while chunk := await source.read(part_bytes):
                    if time.monotonic() >= expires:
                        raise RemoteError(
                            "upload_file_parts",
                            f"upload {upload.id} would expire before its last part is sent "
                            f"({len(part_ids)} of {-(-size // part_bytes)} sent)",
                            kind=TRANSIENT,
                            retryable=True,
                        )
                    part = await self._client.uploads.parts.create(
                        upload.id, data=chunk, timeout=timeout
                    )
                    part_ids.append(part.id)
            done = await self._client.uploads.complete(
                upload.id, part_ids=part_ids, md5=digest, timeout=timeout
            )
        except BaseException:
            await self._cancel_upload(upload.id)
            raise
        if done.status != "completed" or done.file is None:
            raise RemoteError(
                "upload_file_parts", f"upload {upload.id} is {done.status}, with no file"
            )
        if done.file.bytes != size:
            raise RemoteError(
                "upload_file_parts",
                f"upload {upload.id} made a file of {done.file.bytes} bytes, not {size}",
            )
        log.info("upload_completed", upload_id=upload.id, file_id=done.file.id, parts=len(part_ids))
        return file_of(done.file)

    async def _cancel_upload(self, upload_id: str) -> None:
        """Best effort: an upload left pending expires by itself within the hour."""
        with anyio.move_on_after(30, shield=True):
            try:
                await self._client.uploads.cancel(upload_id)
            except openai.OpenAIError as exc:
                log.info("upload_cancel_failed", upload_id=upload_id, error=type(exc).__name__)

    async def _op_find_file(self, filename: str) -> RemoteFile | None:
        page = await self._client.files.list(purpose="fine-tune", order="desc")
        for item in page.data:
            if item.filename == filename:
                return file_of(item)
        return None

    async def _op_file(self, file_id: str) -> RemoteFile:
        return file_of(await self._client.files.retrieve(file_id))

    async def _op_file_content(self, file_id: str) -> bytes:
        response = await self._client.files.content(file_id)
        return response.content

    async def _op_download(self, file_id: str, into: Path, max_bytes: int) -> int:
        written = 0
        streamed = self._client.files.with_streaming_response.content(file_id)
        async with streamed as response, await anyio.open_file(into, "wb") as out:
            async for chunk in response.iter_bytes():
                written += len(chunk)
                if written > max_bytes:
                    raise too_large(f"file_content {file_id}", max_bytes)
                await out.write(chunk)
        return written

    # ------------------------------------------------------------------ jobs

    async def _op_create_job(self, request: JobRequest) -> RemoteJob:
        job = await self._client.fine_tuning.jobs.create(**job_body(request))
        return job_of(job)

    def _request_timeout(self) -> float:
        """The SDK client's per-request timeout (its read timeout), for requests sent beside it."""
        timeout = self._client.timeout
        if isinstance(timeout, int | float):
            return float(timeout)
        read = getattr(timeout, "read", None)
        return float(read) if isinstance(read, int | float) else DEFAULT_PAGE_TIMEOUT

    async def _op_jobs_page(
        self, metadata: dict[str, str], after: str | None, limit: int
    ) -> tuple[list[RemoteJob], bool]:
        # Plain JSON, not the SDK's objects: the tracker reads thousands a cycle.
        plain = self._chat_session()
        if plain is not None:
            query = {f"metadata[{k}]": v for k, v in metadata.items()}
            query["limit"] = str(limit)
            if after:
                query["after"] = after
            body = await plain.page(
                "/fine_tuning/jobs", query, "list_jobs", self._request_timeout()
            )
            return rawpages.jobs_page_of(body, limit)
        async with self._client.fine_tuning.jobs.with_streaming_response.list(
            metadata=metadata or openai.omit, limit=limit, after=after or openai.omit
        ) as response:
            body = await rawpages.bounded_body(response.iter_bytes(), "list_jobs")
        return rawpages.jobs_page_of(body, limit)

    async def _op_job(self, job_id: str) -> RemoteJob:
        return job_of(await self._client.fine_tuning.jobs.retrieve(job_id))

    async def _op_control(self, job_id: str, action: str) -> RemoteJob:
        jobs = self._client.fine_tuning.jobs
        call = {"cancel": jobs.cancel, "pause": jobs.pause, "resume": jobs.resume}[action]
        return job_of(await call(job_id))

    async def _op_events_page(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[JobEvent], bool]:
        plain = self._chat_session()
        if plain is not None:
            query = {"limit": str(limit), **({"after": after} if after else {})}
            path = f"/fine_tuning/jobs/{urllib.parse.quote(job_id, safe='')}/events"
            body = await plain.page(path, query, "list_events", self._request_timeout())
            return rawpages.events_page_of(body, limit)
        async with self._client.fine_tuning.jobs.with_streaming_response.list_events(
            job_id, limit=limit, after=after or openai.omit
        ) as response:
            body = await rawpages.bounded_body(response.iter_bytes(), "list_events")
        return rawpages.events_page_of(body, limit)

    async def _op_checkpoints_page(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[Checkpoint], bool]:
        page = await self._client.fine_tuning.jobs.checkpoints.list(
            job_id, limit=limit, after=after or openai.omit
        )
        return [checkpoint_of(c) for c in page.data], bool(page.has_more)

    # ------------------------------------------------------------------ models

    async def _op_model(self, name: str) -> None:
        await self._client.models.retrieve(name)

    async def _op_model_ids(self) -> list[str]:
        page = await self._client.models.list()
        return [m.id for m in page.data]

    async def _op_delete_model(self, name: str) -> bool:
        answer = await self._client.models.delete(name)
        return bool(answer.deleted)

    async def _op_chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        request_timeout: float,
    ) -> ChatAnswer:
        chats = self._chat_session()
        if chats is not None:
            request = {"model": self.serving_name(model), "messages": list(messages), **params}
            return await chats.complete(request, request_timeout)
        # Plain JSON, not the SDK's objects: an evaluation sends thousands of these.
        async with self._client.chat.completions.with_streaming_response.create(
            model=self.serving_name(model),
            messages=list(messages),  # type: ignore[arg-type]
            timeout=request_timeout,
            **params,
        ) as response:
            body = await rawpages.bounded_body(response.iter_bytes(), "chat_completion")
        return rawanswer.answer_of(body)

    async def _op_embed(
        self,
        model: str,
        texts: Sequence[str],
        dimensions: int | None,
        request_timeout: float,
    ) -> Embeddings:
        # Floats, not base64: OpenAI's spec declares an embedding a list of numbers.
        body: dict[str, Any] = {
            "model": self.serving_name(model),
            "input": list(texts),
            "encoding_format": "float",
        }
        if dimensions is not None:
            body["dimensions"] = dimensions
        chats = self._chat_session()
        if chats is not None:
            raw = await chats.post("/embeddings", body, request_timeout, rawembeddings.OPERATION)
            return rawembeddings.embeddings_of(raw, len(texts))
        async with self._client.embeddings.with_streaming_response.create(
            timeout=request_timeout, **body
        ) as response:
            raw = await rawpages.bounded_body(response.iter_bytes(), rawembeddings.OPERATION)
        return rawembeddings.embeddings_of(raw, len(texts))
