"""Azure's file upload: its purposes and its ``expires_after``.

The v1 spec requires ``expires_after`` (AzureCreateFileRequestMultiPart/
required = file, expires_after, purpose) and declares it as an object inside
``multipart/form-data`` with no ``encoding``, which in OpenAPI 3.0 means one
part holding JSON. The OpenAI SDK sends ``expires_after[anchor]`` and
``expires_after[seconds]`` parts instead, and the authoring spec names its
form fields ``expires_after.anchor`` and ``expires_after.seconds``; all three
spellings are read. The authoring spec makes it optional and bounds the
seconds to 1209600-2592000 (/definitions/FileExpiresAfter); the v1 spec gives
no bounds, so the authoring bounds apply to both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ftd.emulator.apierrors import bad_request
from ftd.emulator.azure.errors import V1
from ftd.emulator.azure.ids import AzureIdFormat
from ftd.emulator.files import StreamedForm, too_large
from ftd.emulator.files import check_expiry as check_file_expiry
from ftd.emulator.records import FileRecord
from ftd.logs import get_logger

if TYPE_CHECKING:
    from aiohttp import web

    from ftd.emulator.core import EmulatorCore

log = get_logger(__name__)

PURPOSES = ("assistants", "batch", "fine-tune", "evals")
MIN_EXPIRY_S = 1_209_600
MAX_EXPIRY_S = 2_592_000


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


def _expiry_fields(fields: dict[str, str]) -> tuple[object, object] | None:
    if "expires_after" in fields:
        try:
            value = orjson.loads(fields["expires_after"])
        except orjson.JSONDecodeError:
            raise bad_request(
                "expires_after must be a JSON object with anchor and seconds",
                param="expires_after",
            ) from None
        if not isinstance(value, dict):
            raise bad_request("expires_after must be an object", param="expires_after")
        return value.get("anchor"), value.get("seconds")
    for anchor, seconds in (
        ("expires_after[anchor]", "expires_after[seconds]"),
        ("expires_after.anchor", "expires_after.seconds"),
    ):
        if anchor in fields or seconds in fields:
            return fields.get(anchor), fields.get(seconds)
    return None


def check_expiry(fields: dict[str, str], shape: str) -> int | None:
    """Azure's ``expires_after``: required on v1, 14 to 30 days where given."""
    given = _expiry_fields(fields)
    if given is None:
        if shape == V1:
            raise bad_request(
                "Missing required parameter: 'expires_after' (anchor and seconds).",
                param="expires_after",
            )
        return None
    anchor, seconds = given
    if anchor is None and seconds is None:  # an empty policy is no policy here
        raise bad_request("expires_after.anchor must be 'created_at'", param="expires_after.anchor")
    value = check_file_expiry(anchor, seconds, MIN_EXPIRY_S, MAX_EXPIRY_S)
    assert value is not None
    return value


async def create_file(core: EmulatorCore, request: web.Request, shape: str) -> FileRecord:
    cap = core.config.max_file_bytes
    form = StreamedForm()
    try:
        await form.read(request, "file", core.state.blobs.writer, cap)
        if form.writer is None or form.filename is None:
            raise bad_request("Missing required parameter: 'file'.", param="file")
        purpose = form.fields.get("purpose")
        if purpose not in PURPOSES:
            raise bad_request(
                f"purpose must be one of {', '.join(PURPOSES)}, got {purpose!r}", param="purpose"
            )
        if purpose == "fine-tune" and not form.filename.lower().endswith(".jsonl"):
            raise bad_request("Invalid file format for fine-tuning. Must be .jsonl", param="file")
        expiry = check_expiry(form.fields, shape)
        if form.received > cap:
            raise too_large(form.received, cap, "File")
    except BaseException:
        form.discard()
        raise
    now = int(core.clock())
    record = FileRecord(
        id=AzureIdFormat().file_id(),
        filename=form.filename,
        purpose=purpose,
        bytes=form.received,
        created_at=now,
        expires_at=None if expiry is None else now + expiry,
    )
    form.writer.commit(record.id)
    core.state.add_file(record)
    log.info("file_created", file_id=record.id, purpose=purpose, bytes=record.bytes)
    return record
