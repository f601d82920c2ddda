"""Batch operations at the provider seam: ftd's nouns for a provider's batch engine.

A provider that runs batches (``Capabilities.batch``) implements the
``_op_batch_*`` primitives; the public methods here give them the same
discipline as every other call: the request file's upload and the batch's
creation are sent once (after any doubt the caller finds them again by name
or by metadata tag), reads are retried within a deadline, list walks are
bounded, and a downloaded output file is streamed to disk under a size cap,
never held whole in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ftd.errors import RemoteError
from ftd.providers.kinds import INVALID

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from ftd.providers.core import CallPolicy
    from ftd.providers.types import Capabilities, ChatAnswer, RemoteFile

T = TypeVar("T")

# A batch's statuses, as OpenAI words them (Together and Azure map theirs onto these).
VALIDATING = "validating"
IN_PROGRESS = "in_progress"
FINALIZING = "finalizing"
COMPLETED = "completed"
FAILED = "failed"
EXPIRED = "expired"
CANCELLING = "cancelling"
CANCELLED = "cancelled"
BATCH_TERMINAL = frozenset({COMPLETED, FAILED, EXPIRED, CANCELLED})
CHAT_ENDPOINT = "/v1/chat/completions"
# An output or error file larger than this is refused rather than written to disk.
DEFAULT_DOWNLOAD_CAP = 1024 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How big one batch may be at a provider: requests per batch and bytes per input file."""

    max_requests: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class RemoteBatch:
    id: str
    status: str  # one of the words above (an unknown word passes through unchanged)
    total: int = 0
    completed: int = 0
    failed: int = 0
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    created_at: float | None = None
    errors: tuple[str, ...] = ()
    input_tokens: int | None = None
    output_tokens: int | None = None
    provider_status: str | None = None
    # Percent of the requests done, from a provider that tells that instead of counts (Together).
    progress: float | None = None

    @property
    def terminal(self) -> bool:
        return self.status in BATCH_TERMINAL


class BatchOperations:
    """Mixed into :class:`ftd.providers.core.Provider`; adapters implement the primitives."""

    profile: str
    capabilities: Capabilities
    batch_limits = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)

    if TYPE_CHECKING:

        async def _read(self, operation: str, call: Callable[[], Awaitable[T]]) -> T: ...

        async def _create(
            self,
            operation: str,
            call: Callable[[], Awaitable[T]],
            *,
            deadline: float | None = None,
        ) -> T: ...

        async def _walk(
            self,
            operation: str,
            page_of: Callable[[str | None], Awaitable[tuple[list[T], bool]]],
            cursor_of: Callable[[T], str],
            *,
            stop: Callable[[list[T]], bool] = ...,
            max_pages: int = ...,
        ) -> list[T]: ...

        def _unsupported(self, operation: str, what: str) -> RemoteError: ...

        _policy: CallPolicy

    def _need_batches(self, operation: str) -> None:
        if not self.capabilities.batch:
            raise self._unsupported(operation, "the batch engine")

    async def upload_batch_file(self, path: Path, filename: str) -> RemoteFile:
        """Upload a request file (purpose ``batch``); sent once."""
        self._need_batches("upload_batch_file")
        return await self._create(
            "upload_batch_file",
            lambda: self._op_batch_upload(path, filename),
            deadline=self._policy.upload_timeout,
        )

    async def find_batch_file(self, filename: str) -> RemoteFile | None:
        """The newest batch input file of this exact name (ftd's names carry its tag)."""
        self._need_batches("find_batch_file")
        return await self._read("find_batch_file", lambda: self._op_batch_find_file(filename))

    async def create_batch(
        self, input_file_id: str, metadata: dict[str, str], endpoint: str = CHAT_ENDPOINT
    ) -> RemoteBatch:
        """Create a batch carrying ftd's tag in its metadata; sent once."""
        self._need_batches("create_batch")
        return await self._create(
            "create_batch", lambda: self._op_batch_create(input_file_id, endpoint, metadata)
        )

    async def batch(self, batch_id: str) -> RemoteBatch:
        self._need_batches("retrieve_batch")
        return await self._read("retrieve_batch", lambda: self._op_batch(batch_id))

    async def find_batches(self, key: str, value: str) -> list[RemoteBatch]:
        """Batches whose own metadata has ``key=value``, newest first (a bounded walk)."""
        self._need_batches("find_batches")

        async def page_of(after: str | None) -> tuple[list[RemoteBatch], bool]:
            return await self._read("list_batches", lambda: self._op_batches_page(after, 100))

        found = await self._walk("find_batches", page_of, lambda b: b.id)
        return [b for b in found if b.metadata.get(key) == value]

    async def cancel_batch(self, batch_id: str) -> RemoteBatch:
        # Asking twice is harmless: a second cancel is refused, not doubled.
        self._need_batches("cancel_batch")
        return await self._read("cancel_batch", lambda: self._op_batch_cancel(batch_id))

    async def download_file(
        self, file_id: str, dest: Path, *, max_bytes: int = DEFAULT_DOWNLOAD_CAP
    ) -> int:
        """Stream a file's content into ``dest`` (via a temporary beside it); its size.

        A file over ``max_bytes`` is refused with an INVALID error and nothing
        is left behind; a retried attempt starts the file afresh.
        """

        async def attempt() -> int:
            temp = dest.with_name(dest.name + ".part")
            size = 0
            try:
                with temp.open("wb") as out:
                    async for chunk in self._op_file_stream(file_id):
                        size += len(chunk)
                        if size > max_bytes:
                            raise RemoteError(
                                "download_file",
                                f"file {file_id} is over the {max_bytes} byte cap",
                                kind=INVALID,
                            )
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, dest)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            return size

        return await self._read("download_file", attempt)

    # ------------------------------------------------------------------ primitives

    async def _op_batch_upload(self, path: Path, filename: str) -> RemoteFile:
        raise NotImplementedError

    async def _op_batch_find_file(self, filename: str) -> RemoteFile | None:
        raise NotImplementedError

    async def _op_batch_create(
        self, input_file_id: str, endpoint: str, metadata: dict[str, str]
    ) -> RemoteBatch:
        raise NotImplementedError

    async def _op_batch(self, batch_id: str) -> RemoteBatch:
        raise NotImplementedError

    async def _op_batches_page(
        self, after: str | None, limit: int
    ) -> tuple[list[RemoteBatch], bool]:
        raise NotImplementedError

    async def _op_batch_cancel(self, batch_id: str) -> RemoteBatch:
        raise NotImplementedError

    def _op_file_stream(self, file_id: str) -> AsyncIterator[bytes]:
        raise NotImplementedError

    def batch_answer(self, body: dict[str, Any]) -> ChatAnswer:
        """One output line's response body read as the live chat call reads its answer,
        so the same completion gives the same text whichever way it came."""
        raise NotImplementedError


def batch_of(item: Any) -> RemoteBatch:
    """An OpenAI-shaped batch object (the SDK's or a plain dict's attributes) in ftd's nouns."""
    counts = getattr(item, "request_counts", None)
    errors = getattr(item, "errors", None)
    lines = tuple(
        f"line {e.line}: {e.code}: {e.message}" if e.line else f"{e.code}: {e.message}"
        for e in (getattr(errors, "data", None) or ())
    )
    usage = getattr(item, "usage", None)
    return RemoteBatch(
        id=item.id,
        status=item.status,
        total=counts.total if counts else 0,
        completed=counts.completed if counts else 0,
        failed=counts.failed if counts else 0,
        input_file_id=item.input_file_id,
        output_file_id=item.output_file_id,
        error_file_id=item.error_file_id,
        metadata={str(k): str(v) for k, v in (item.metadata or {}).items()},
        model=getattr(item, "model", None),
        created_at=float(item.created_at) if item.created_at else None,
        errors=lines,
        input_tokens=usage.input_tokens if usage else None,
        output_tokens=usage.output_tokens if usage else None,
        provider_status=item.status,
    )
