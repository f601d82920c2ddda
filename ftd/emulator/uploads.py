"""The Uploads API: a file sent in parts, joined in the order the client names, checked.

Parts are stored as blobs of their own; completing joins them into a normal
file in a worker thread (gigabytes must not stall the event loop), verifying
the declared size and the optional MD5 on the way.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ftd.emulator import ids
from ftd.emulator.apierrors import bad_request, missing_object
from ftd.emulator.files import StreamedForm, check_expiry, check_purpose, file_object, too_large
from ftd.emulator.records import FileRecord, PartRecord, UploadRecord
from ftd.emulator.settings import MAX_UPLOAD_BYTES, RuntimeConfig
from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiohttp import web

    from ftd.emulator.state import EmulatorState

log = get_logger(__name__)

PENDING = "pending"
COMPLETED = "completed"
CANCELLED = "cancelled"
EXPIRED = "expired"


class UploadService:
    def __init__(
        self, state: EmulatorState, config: RuntimeConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._state = state
        self._config = config
        self._clock = clock

    def status(self, upload: UploadRecord) -> str:
        if upload.status == PENDING and self._clock() >= upload.expires_at:
            return EXPIRED
        return upload.status

    def render(self, upload: UploadRecord) -> dict[str, Any]:
        file = self._state.files.get(upload.file_id) if upload.file_id else None
        return {
            "id": upload.id,
            "object": "upload",
            "bytes": upload.bytes,
            "created_at": upload.created_at,
            "filename": upload.filename,
            "purpose": upload.purpose,
            "status": self.status(upload),
            "expires_at": upload.expires_at,
            "file": None if file is None else file_object(file),
        }

    def get(self, upload_id: str) -> UploadRecord:
        upload = self._state.uploads.get(upload_id)
        if upload is None:
            raise missing_object("upload", upload_id, param="upload_id")
        return upload

    def _pending(self, upload_id: str, action: str) -> UploadRecord:
        upload = self.get(upload_id)
        status = self.status(upload)
        if status != PENDING:
            raise bad_request(
                f"Cannot {action} upload {upload_id}: its status is {status}.",
                param="upload_id",
                code="invalid_upload_state",
            )
        return upload

    def create(self, body: dict[str, Any]) -> UploadRecord:
        size = body.get("bytes")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_UPLOAD_BYTES:
            raise bad_request(
                f"bytes must be an integer between 0 and {MAX_UPLOAD_BYTES}", param="bytes"
            )
        filename = body.get("filename")
        if not isinstance(filename, str) or not filename:
            raise bad_request("filename is required", param="filename")
        mime_type = body.get("mime_type")
        if not isinstance(mime_type, str) or not mime_type:
            raise bad_request("mime_type is required", param="mime_type")
        purpose = body.get("purpose")
        check_purpose(purpose if isinstance(purpose, str) else None, filename)
        assert isinstance(purpose, str)
        expires_after = body.get("expires_after") or {}
        if not isinstance(expires_after, dict):
            raise bad_request("expires_after must be an object", param="expires_after")
        expiry = check_expiry(expires_after.get("anchor"), expires_after.get("seconds"))
        now = self._clock()
        upload = UploadRecord(
            id=ids.new_id("upload_"),
            filename=filename,
            bytes=size,
            purpose=purpose,
            mime_type=mime_type,
            created_at=int(now),
            expires_at=int(now + self._config.upload_ttl_seconds),
            file_expires_after=expiry,
        )
        self._state.save_upload(upload)
        log.info("upload_created", upload_id=upload.id, bytes=size, purpose=purpose)
        return upload

    async def add_part(self, upload_id: str, request: web.Request) -> dict[str, Any]:
        upload = self._pending(upload_id, "add a part to")
        cap = self._config.max_part_bytes
        form = StreamedForm()
        try:
            await form.read(request, "data", self._state.blobs.writer, cap)
            if form.writer is None:
                raise bad_request("Missing required parameter: 'data'.", param="data")
            if form.received > cap:
                raise too_large(form.received, cap, "Part")
            upload = self._pending(upload_id, "add a part to")  # it may have expired meanwhile
        except BaseException:
            form.discard()
            raise
        part = PartRecord(ids.new_id("part_"), form.received, int(self._clock()))
        form.writer.commit(part.id)
        upload.parts.append(part)
        self._state.save_upload(upload)
        return {
            "id": part.id,
            "object": "upload.part",
            "created_at": part.created_at,
            "upload_id": upload.id,
        }

    async def complete(self, upload_id: str, body: dict[str, Any]) -> UploadRecord:
        upload = self._pending(upload_id, "complete")
        part_ids = body.get("part_ids")
        if not isinstance(part_ids, list) or not all(isinstance(p, str) for p in part_ids):
            raise bad_request("part_ids must be a list of part ids", param="part_ids")
        parts = {p.id: p for p in upload.parts}
        unknown = [p for p in part_ids if p not in parts]
        if unknown:
            raise bad_request(
                f"Part {unknown[0]} does not belong to upload {upload_id}", param="part_ids"
            )
        if len(set(part_ids)) != len(part_ids):
            raise bad_request("part_ids lists a part more than once", param="part_ids")
        total = sum(parts[p].bytes for p in part_ids)
        if total != upload.bytes:
            raise bad_request(
                f"The number of bytes uploaded ({total}) does not match the number of bytes "
                f"declared when the upload was created ({upload.bytes}).",
                param="part_ids",
            )
        md5 = body.get("md5")
        if md5 is not None and not isinstance(md5, str):
            raise bad_request("md5 must be a hex string", param="md5")
        file_id = ids.new_id("file-")
        size, digest = await asyncio.to_thread(self._state.blobs.concatenate, part_ids, file_id)
        if md5 and md5.lower() != digest:
            self._state.blobs.delete(file_id)
            raise bad_request(
                f"The md5 checksum of the uploaded parts ({digest}) does not match the one "
                f"given ({md5}).",
                param="md5",
            )
        try:
            upload = self._pending(upload_id, "complete")  # it may have changed meanwhile
        except BaseException:
            self._state.blobs.delete(file_id)
            raise
        now = int(self._clock())
        expires = None if upload.file_expires_after is None else now + upload.file_expires_after
        self._state.add_file(
            FileRecord(file_id, upload.filename, upload.purpose, size, now, expires)
        )
        for part in upload.parts:
            self._state.blobs.delete(part.id)
        upload.status = COMPLETED
        upload.file_id = file_id
        self._state.save_upload(upload)
        log.info("upload_completed", upload_id=upload.id, file_id=file_id, bytes=size)
        return upload

    def cancel(self, upload_id: str) -> UploadRecord:
        upload = self._pending(upload_id, "cancel")
        for part in upload.parts:
            self._state.blobs.delete(part.id)
        upload.status = CANCELLED
        self._state.save_upload(upload)
        log.info("upload_cancelled", upload_id=upload.id)
        return upload
