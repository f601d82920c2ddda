"""List pages read as plain JSON, straight into ftd's records, every field doubted.

The tracker reads a page of jobs or events per request, thousands a cycle;
building the SDK's objects for them cost more CPU than everything else the
cycle does, and those objects are not checked anyway (the SDK constructs
them without validation, so a wrong type passes through). Here the body is
read up to a bound, parsed once, and each item becomes a ``RemoteJob`` or a
``JobEvent`` only if the fields ftd relies on have the types it expects:
an item that does not is left out and counted, never guessed at, and a
field that is optional falls back to "not said".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

import orjson

from ftd.errors import RemoteError
from ftd.logs import get_logger
from ftd.providers.bodies import too_large
from ftd.providers.kinds import TRANSIENT
from ftd.providers.types import JobError, JobEvent, RemoteJob

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

log = get_logger("ftd.providers")
T = TypeVar("T")

# A page of 100 jobs or events, or a long completion, is tens of kilobytes: far past that
# is no answer ftd asked for.
MAX_PAGE_BYTES = 8 * 1024 * 1024
MAX_ID = 256  # characters of an id, a status word, a model name
MAX_TEXT = 64 * 1024  # characters of an event's message
# Timestamps SQLite and Python both hold exactly (the API sends Unix seconds).
MAX_TIMESTAMP = 2**53


async def bounded_body(chunks: AsyncIterator[bytes], operation: str) -> bytes:
    """The whole body, or the bound's RemoteError once it passes ``MAX_PAGE_BYTES``."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_PAGE_BYTES:
            # The same refusal as the bounded transport's: the same request brings the same.
            raise too_large(operation, MAX_PAGE_BYTES)
        parts.append(chunk)
    return b"".join(parts)


def _page(body: bytes, operation: str) -> tuple[list[Any], bool]:
    """The ``data`` list and ``has_more`` of a list answer (more only if it says ``true``)."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RemoteError(
            operation, f"answer is not JSON: {exc}", kind=TRANSIENT, retryable=True
        ) from exc
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise RemoteError(
            operation, "answer is not a list page (no data array)", kind=TRANSIENT, retryable=True
        )
    return answer["data"], answer.get("has_more") is True


def _word(value: object, limit: int = MAX_ID) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_TIMESTAMP:
        return value
    return None


def _moment(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 < value < MAX_TIMESTAMP:
        return None
    return float(value)


def _is_word(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID


def job_of(item: object) -> RemoteJob | None:
    """A job from one list item; None when its id or status is missing or not a word.

    Read 10,000 times a cycle: the fields a running job leaves empty (null, ``{}``,
    ``[]``) are passed over without a check of their own.
    """
    if not isinstance(item, dict):
        return None
    get = item.get
    job_id, status = get("id"), get("status")
    if not (_is_word(job_id) and _is_word(status)):
        return None
    error = get("error")
    job_error = None
    if error and isinstance(error, dict) and (code := _word(error.get("code"))) is not None:
        message = error.get("message")
        job_error = JobError(
            code,
            message[:MAX_TEXT] if isinstance(message, str) and message else None,
            _word(error.get("param")),
        )
    files = get("result_files")
    metadata = get("metadata")
    model, fine_tuned, tokens, finish = (
        get("model"),
        get("fine_tuned_model"),
        get("trained_tokens"),
        get("estimated_finish"),
    )
    return RemoteJob(
        id=job_id,
        status=status,
        model=model if _is_word(model) else "",
        fine_tuned_model=None if fine_tuned is None else _word(fine_tuned),
        trained_tokens=None if tokens is None else _count(tokens),
        estimated_finish=None if finish is None else _moment(finish),
        error=job_error,
        result_files=tuple(f for f in files if _word(f))
        if files and isinstance(files, list)
        else (),
        metadata={k: v for k, v in metadata.items() if isinstance(k, str) and isinstance(v, str)}
        if metadata and isinstance(metadata, dict)
        else {},
        created_at=_moment(get("created_at")),
        provider_status=status,
    )


def event_of(item: object) -> JobEvent | None:
    """An event from one list item; None when its id or time is missing or not sane."""
    if not isinstance(item, dict):
        return None
    get = item.get
    event_id, created = get("id"), _count(get("created_at"))
    if not _is_word(event_id) or created is None:
        return None
    message, data, level, kind = get("message"), get("data"), get("level"), get("type")
    return JobEvent(
        id=event_id,
        created_at=created,
        level=level if _is_word(level) else "info",
        type=kind if _is_word(kind) else "message",
        message=message[:MAX_TEXT] if isinstance(message, str) else "",
        data=data if isinstance(data, dict) else None,
    )


def _items(
    body: bytes, limit: int, operation: str, make: Callable[[object], T | None]
) -> tuple[list[T], bool]:
    """Items of a page, at most ``limit`` (a longer page is read as having more)."""
    raw, more = _page(body, operation)
    if len(raw) > limit:
        raw, more = raw[:limit], True
    found = [made for made in map(make, raw) if made is not None]
    if len(found) < len(raw):
        log.warning("remote_items_refused", operation=operation, refused=len(raw) - len(found))
    return found, more


def jobs_page_of(body: bytes, limit: int) -> tuple[list[RemoteJob], bool]:
    return _items(body, limit, "list_jobs", job_of)


def events_page_of(body: bytes, limit: int) -> tuple[list[JobEvent], bool]:
    return _items(body, limit, "list_events", event_of)
