"""Files and multipart uploads: storage rules, listing and the objects the API returns.

Upload bodies are streamed chunk by chunk into a blob writer and measured on
the way, so an over-size upload is refused without ever being held whole,
and the request body is still drained so the client reads a clean answer.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from ftd.emulator import ids
from ftd.emulator.apierrors import ApiError, bad_request, not_found
from ftd.emulator.records import FileRecord
from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable

    from ftd.emulator.blobs import BlobWriter
    from ftd.emulator.settings import RuntimeConfig
    from ftd.emulator.state import EmulatorState

log = get_logger(__name__)

CREATE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
MIN_EXPIRY_S = 3600
MAX_EXPIRY_S = 2_592_000
_CHUNK = 1 << 20
_MAX_FIELD = 64 * 1024


def file_object(record: FileRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": record.created_at,
        "filename": record.filename,
        "purpose": record.purpose,
        "status": "processed",
    }
    if record.expires_at is not None:
        body["expires_at"] = record.expires_at
    return body


def check_purpose(purpose: str | None, filename: str) -> str:
    if purpose is None:
        raise bad_request("Missing required parameter: 'purpose'.", param="purpose")
    if purpose not in CREATE_PURPOSES:
        raise bad_request(
            f"'{purpose}' is not one of {list(CREATE_PURPOSES)} - 'purpose'", param="purpose"
        )
    if purpose == "fine-tune" and not filename.lower().endswith(".jsonl"):
        raise bad_request("Invalid file format for Fine-Tuning API. Must be .jsonl", param="file")
    return purpose


def check_expiry(
    anchor: object, seconds: object, low: int = MIN_EXPIRY_S, high: int = MAX_EXPIRY_S
) -> int | None:
    """An ``expires_after`` policy's lifetime in seconds, within the service's bounds."""
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise bad_request("expires_after.anchor must be 'created_at'", param="expires_after.anchor")
    try:
        value = int(str(seconds))
    except ValueError:
        raise bad_request(
            "expires_after.seconds must be an integer", param="expires_after.seconds"
        ) from None
    if not low <= value <= high:
        raise bad_request(
            f"expires_after.seconds must be between {low} and {high}, got {value}",
            param="expires_after.seconds",
        )
    return value


def too_large(size: int, cap: int, what: str) -> ApiError:
    return ApiError(
        413,
        f"{what} is {size} bytes, over the maximum of {cap} bytes.",
        param="file",
        code="file_too_large",
    )


class StreamedForm:
    """A multipart form read as a stream: short text fields and one binary field."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.writer: BlobWriter | None = None
        self.received = 0

    async def read(
        self,
        request: web.Request,
        binary_field: str,
        new_writer: Callable[[], BlobWriter],
        cap: int,
    ) -> None:
        if not request.content_type.startswith("multipart/"):
            raise bad_request("The request must be multipart/form-data")
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise bad_request("Nested multipart bodies are not supported")
            if part.name == binary_field:
                await self._receive(part, new_writer, cap)
            elif part.name is not None:
                value = await part.read(decode=True)
                if len(value) > _MAX_FIELD:
                    raise bad_request(f"Form field '{part.name}' is too long", param=part.name)
                self.fields[part.name] = value.decode("utf-8", errors="replace")

    async def _receive(
        self, part: BodyPartReader, new_writer: Callable[[], BlobWriter], cap: int
    ) -> None:
        self.filename = part.filename or ""
        writer = self.writer = new_writer()
        while chunk := await part.read_chunk(_CHUNK):
            self.received += len(chunk)
            if self.received <= cap:
                writer.write(chunk)

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.discard()


class FileService:
    def __init__(
        self, state: EmulatorState, config: RuntimeConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._state = state
        self._config = config
        self._clock = clock

    async def create(self, request: web.Request) -> FileRecord:
        cap = self._config.max_file_bytes
        form = StreamedForm()
        try:
            await form.read(request, "file", self._state.blobs.writer, cap)
            if form.writer is None or form.filename is None:
                raise bad_request("Missing required parameter: 'file'.", param="file")
            purpose = check_purpose(form.fields.get("purpose"), form.filename)
            expiry = check_expiry(
                form.fields.get("expires_after[anchor]"), form.fields.get("expires_after[seconds]")
            )
            if form.received > cap:
                raise too_large(form.received, cap, "File")
        except BaseException:
            form.discard()
            raise
        now = int(self._clock())
        record = FileRecord(
            id=ids.new_id("file-"),
            filename=form.filename,
            purpose=purpose,
            bytes=form.received,
            created_at=now,
            expires_at=None if expiry is None else now + expiry,
        )
        form.writer.commit(record.id)
        self._state.add_file(record)
        log.info("file_created", file_id=record.id, purpose=purpose, bytes=record.bytes)
        return record

    def get(self, file_id: str) -> FileRecord:
        record = self._state.live_file(file_id, self._clock())
        if record is None:
            # Worded as the real service words it (openai-real-answers: http_404_file).
            raise not_found(f"No such File object: {file_id}", param="id")
        return record

    def list(
        self, purpose: str | None, limit: int, order: str, after: str | None
    ) -> tuple[list[FileRecord], bool]:
        records = list(self._state.live_files(self._clock()))
        if purpose:
            records = [r for r in records if r.purpose == purpose]
        records.sort(key=lambda r: r.created_at)  # stable: creation order breaks ties
        if order == "desc":
            records.reverse()
        if after is not None:
            position = next((i for i, r in enumerate(records) if r.id == after), None)
            records = [] if position is None else records[position + 1 :]
        return records[:limit], len(records) > limit

    def content(self, record: FileRecord) -> web.StreamResponse:
        path = self._state.blobs.path(record.id)
        if record.purpose == "fine-tune-results" and self._config.result_files_base64:
            data = base64.b64encode(self._state.blobs.read(record.id))
            return web.Response(body=data, content_type="application/octet-stream")
        if path is not None:
            return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})
        return web.Response(
            body=self._state.blobs.read(record.id), content_type="application/octet-stream"
        )

    def delete(self, record: FileRecord, *, referenced: bool) -> dict[str, Any]:
        """Forget a file; bytes a job trained on stay behind for its model to answer from."""
        self._state.remove_file(record.id, keep_bytes=referenced)
        log.info("file_deleted", file_id=record.id)
        return {"id": record.id, "object": "file", "deleted": True}
