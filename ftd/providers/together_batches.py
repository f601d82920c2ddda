"""The Together adapter's batch primitives over plain HTTP: ``/batches`` and batch files.

Together's batch job keeps no metadata, so ftd's tag travels in the input
file's name (the stages name every request file ``<tag>.jsonl``): batches are
found again by the names of their input files, and each batch found is given
the tag as its metadata. Statuses come upper-case and without finalizing or
cancelling; progress is a percentage, not request counts: it is passed on as
such, and the stages turn it into requests done from the batch's own count.
A request file is uploaded with ``max_tokens`` where ftd wrote OpenAI's
``max_completion_tokens``, as the live chat call translates it: the file on
disk, from which the cache keys are read, is left as written, and the
translation is written beside it line by line and uploaded from disk.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import anyio
import orjson

from ftd.errors import RemoteError
from ftd.logs import get_logger
from ftd.providers.batches import BatchLimits, BatchOperations, RemoteBatch
from ftd.providers.kinds import TRANSIENT
from ftd.providers.openai_api import http_error
from ftd.providers.types import ChatAnswer, RemoteFile

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from ftd.providers.core import CallPolicy

log = get_logger("ftd.providers")
INPUT_PURPOSE = "batch-api"
_STATUS = {
    "VALIDATING": "validating",
    "IN_PROGRESS": "in_progress",
    "COMPLETED": "completed",
    "FAILED": "failed",
    "EXPIRED": "expired",
    "CANCELLED": "cancelled",
}
_CHUNK = 1 << 16
# Together's documented ceilings: 50,000 requests and 100 MB per batch input file.
TOGETHER_BATCH_LIMITS = BatchLimits(max_requests=50_000, max_bytes=100 * 1024 * 1024)
# The tag's key in the metadata ftd gives each batch found (see the module's docstring).
TAG_METADATA_KEY = "ftd_batch"


def _epoch(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _percent(value: object) -> float | None:
    """A progress percentage, kept within 0 to 100; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return min(100.0, max(0.0, float(value)))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def answer_of(answer: dict[str, Any]) -> ChatAnswer:
    """A chat completion's text and usage, read as the live chat call reads them."""
    choices = answer.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    usage = answer.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return ChatAnswer(
        text=_text(message.get("content")) or "",
        prompt_tokens=prompt if isinstance(prompt, int) else 0,
        completion_tokens=completion if isinstance(completion, int) else 0,
        finish_reason=_text(choice.get("finish_reason")),
        model=_text(answer.get("model")),
        usage=usage or None,
    )


def translated(raw: bytes) -> bytes:
    """One request line with its body's ``max_completion_tokens`` named ``max_tokens``."""
    line = orjson.loads(raw)
    body = line.get("body") if isinstance(line, dict) else None
    if isinstance(body, dict) and "max_completion_tokens" in body:
        body["max_tokens"] = body.pop("max_completion_tokens")
    return orjson.dumps(line) + b"\n"


def translate_file(source: Path, dest: Path) -> int:
    """``source``'s request lines written to ``dest`` translated, one at a time; its size."""
    size = 0
    with source.open("rb") as lines, dest.open("wb") as out:
        for raw in lines:
            if raw.strip():
                size += out.write(translated(raw))
    return size


class TogetherBatches(BatchOperations):
    batch_limits = TOGETHER_BATCH_LIMITS
    if TYPE_CHECKING:
        _policy: CallPolicy
        _base: str
        _filenames: dict[str, str]

        async def _call(
            self,
            operation: str,
            method: str,
            path: str,
            *,
            limit: int = ...,
            seconds: float | None = None,
            raw: bool = False,
            **kwargs: Any,
        ) -> Any: ...

        def _session(self) -> aiohttp.ClientSession: ...

        def _file_of(self, item: object) -> RemoteFile: ...

        async def _files(self, purposes: tuple[str | None, ...] = ...) -> list[RemoteFile]: ...

    def _batch_of(self, item: object) -> RemoteBatch:
        body = item if isinstance(item, dict) else {}
        batch_id = _text(body.get("id"))
        word = _text(body.get("status"))
        if batch_id is None or word is None:
            raise RemoteError("batch", "batch answer without id or status", kind=TRANSIENT)
        input_file = _text(body.get("input_file_id"))
        name = self._filenames.get(input_file or "")
        tag = name[: -len(".jsonl")] if name and name.endswith(".jsonl") else None
        error = _text(body.get("error"))
        progress = body.get("progress")
        return RemoteBatch(
            id=batch_id,
            status=_STATUS.get(word, word.lower()),
            input_file_id=input_file,
            output_file_id=_text(body.get("output_file_id")),
            error_file_id=_text(body.get("error_file_id")),
            metadata={TAG_METADATA_KEY: tag} if tag else {},
            model=_text(body.get("model_id")),
            created_at=_epoch(body.get("created_at")),
            errors=(error,) if error else (),
            provider_status=word,
            progress=_percent(progress),
        )

    async def _op_batch_upload(self, path: Path, filename: str) -> RemoteFile:
        sent = path.with_name(path.name + ".together")
        try:
            size = await anyio.to_thread.run_sync(translate_file, path, sent)
            log.info("together_batch_file_translated", filename=filename, bytes=size)
            handle = await anyio.to_thread.run_sync(sent.open, "rb")
            try:
                form = aiohttp.FormData()
                form.add_field("purpose", INPUT_PURPOSE)
                form.add_field("file_name", filename)
                form.add_field("file_type", "jsonl")
                # A file object: aiohttp sends it a chunk at a time, never read whole.
                form.add_field(
                    "file", handle, filename=filename, content_type="application/octet-stream"
                )
                answer = await self._call(
                    "upload_batch_file",
                    "POST",
                    "/files/upload",
                    data=form,
                    seconds=self._policy.upload_timeout,
                )
            finally:
                handle.close()
        finally:
            await anyio.Path(sent).unlink(missing_ok=True)
        return self._file_of(answer)

    async def _op_batch_find_file(self, filename: str) -> RemoteFile | None:
        return next(
            (f for f in await self._files((INPUT_PURPOSE,)) if f.filename == filename), None
        )

    async def _op_batch_create(
        self, input_file_id: str, endpoint: str, metadata: dict[str, str]
    ) -> RemoteBatch:
        # Together keeps no metadata; the tag is the input file's name already.
        body = {"endpoint": endpoint, "input_file_id": input_file_id, "completion_window": "24h"}
        answer = await self._call("create_batch", "POST", "/batches", json=body)
        job = answer.get("job") if isinstance(answer, dict) else None
        return self._batch_of(job if job is not None else answer)

    async def _op_batch(self, batch_id: str) -> RemoteBatch:
        return self._batch_of(
            await self._call("retrieve_batch", "GET", f"/batches/{quote(batch_id)}")
        )

    async def _op_batches_page(
        self, after: str | None, limit: int
    ) -> tuple[list[RemoteBatch], bool]:
        # One answer holds every batch (Together's list has no pages); names learnt first.
        await self._files((INPUT_PURPOSE,))
        answer = await self._call("list_batches", "GET", "/batches")
        items = answer if isinstance(answer, list) else []
        found: list[RemoteBatch] = []
        for item in items:
            try:
                found.append(self._batch_of(item))
            except RemoteError:
                continue
        return found, False

    async def _op_batch_cancel(self, batch_id: str) -> RemoteBatch:
        answer = await self._call("cancel_batch", "POST", f"/batches/{quote(batch_id)}/cancel")
        return self._batch_of(answer)

    async def _op_file_stream(self, file_id: str) -> AsyncIterator[bytes]:
        url = f"{self._base}/files/{quote(file_id)}/content"
        timeout = aiohttp.ClientTimeout(total=self._policy.upload_timeout)
        async with self._session().get(url, timeout=timeout, allow_redirects=False) as response:
            if response.status >= 400:
                raw = await response.content.read(64 * 1024)
                raise http_error(
                    "download_file",
                    response.status,
                    None,
                    raw.decode(errors="replace")[:500],
                    response.headers,
                )
            async for chunk in response.content.iter_chunked(_CHUNK):
                yield chunk

    def batch_answer(self, body: dict[str, Any]) -> ChatAnswer:
        return answer_of(body)
