"""Together's file upload (``POST /files/upload``) and its file objects.

The form carries ``purpose``, ``file_name`` and ``file`` (all required by the
spec) and an optional ``file_type``; the name the file is listed under is
``file_name``, not the multipart part's own filename. ``FileResponse``
requires the keys ``FileType`` and ``Processed``, spelled so in the spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftd.emulator.apierrors import bad_request
from ftd.emulator.files import StreamedForm, too_large
from ftd.emulator.records import FileRecord
from ftd.emulator.together.ids import TogetherIdFormat
from ftd.logs import get_logger

if TYPE_CHECKING:
    from aiohttp import web

    from ftd.emulator.core import EmulatorCore

log = get_logger(__name__)

PURPOSES = (
    "fine-tune",
    "eval",
    "eval-sample",
    "eval-output",
    "eval-summary",
    "batch-generated",
    "batch-api",
)
FILE_TYPES = ("csv", "jsonl", "parquet")
MAX_NAME = 255


def file_type(filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return suffix if suffix in FILE_TYPES else "jsonl"


def file_object(record: FileRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "object": "file",
        "created_at": record.created_at,
        "filename": record.filename,
        "bytes": record.bytes,
        "purpose": record.purpose,
        "FileType": file_type(record.filename),
        "Processed": True,
    }


async def upload(core: EmulatorCore, request: web.Request) -> FileRecord:
    cap = core.config.max_file_bytes
    form = StreamedForm()
    try:
        await form.read(request, "file", core.state.blobs.writer, cap)
        if form.writer is None:
            raise bad_request("Missing required field: 'file'.", param="file")
        name = form.fields.get("file_name")
        if not name or len(name) > MAX_NAME:
            raise bad_request(
                f"file_name is required, at most {MAX_NAME} characters", param="file_name"
            )
        purpose = form.fields.get("purpose")
        if purpose not in PURPOSES:
            raise bad_request(
                f"purpose must be one of {', '.join(PURPOSES)}, got {purpose!r}", param="purpose"
            )
        kind = form.fields.get("file_type")
        if kind is not None and kind not in FILE_TYPES:
            raise bad_request(
                f"file_type must be one of {', '.join(FILE_TYPES)}, got {kind!r}",
                param="file_type",
            )
        if form.received > cap:
            raise too_large(form.received, cap, "File")
        if form.received == 0:
            raise bad_request("The uploaded file is empty.", param="file")
    except BaseException:
        form.discard()
        raise
    record = FileRecord(
        id=TogetherIdFormat().file_id(),
        filename=name,
        purpose=purpose,
        bytes=form.received,
        created_at=int(core.clock()),
    )
    form.writer.commit(record.id)
    core.state.add_file(record)
    log.info("file_created", file_id=record.id, purpose=purpose, bytes=record.bytes)
    return record
