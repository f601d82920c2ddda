"""The OpenAI flavour's ``/v1/batches`` routes and batch object over the shared batch engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftd.emulator.apierrors import bad_request
from ftd.emulator.core import CORE
from ftd.emulator.files import check_expiry
from ftd.emulator.params import json_body, query_int
from ftd.emulator.traffic import json_response

if TYPE_CHECKING:
    from aiohttp import web

    from ftd.emulator.batches import BatchService, BatchView

_TIMES = (
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


def batch_object(view: BatchView, expires_at: int) -> dict[str, Any]:
    record = view.record
    body: dict[str, Any] = {
        "id": record.id,
        "object": "batch",
        "endpoint": record.endpoint,
        "model": record.model,
        "errors": {"object": "list", "data": record.errors} if record.errors else None,
        "input_file_id": record.input_file_id,
        "completion_window": record.completion_window,
        "status": view.status,
        "output_file_id": record.output_file_id if record.settled else None,
        "error_file_id": record.error_file_id if record.settled else None,
        "created_at": int(record.created_at),
        "expires_at": expires_at,
    }
    for name in _TIMES:
        body[name] = view.times.get(name)
    body["request_counts"] = {
        "total": record.total,
        "completed": view.completed,
        "failed": view.failed,
    }
    body["usage"] = record.usage
    body["metadata"] = record.metadata
    return body


def _batches(request: web.Request) -> BatchService:
    return request.app[CORE].batches


async def create_batch(request: web.Request) -> web.Response:
    service = _batches(request)
    body = await json_body(request)
    expiry = body.get("output_expires_after")
    ttl = None
    if expiry is not None:
        if not isinstance(expiry, dict):
            raise bad_request(
                "output_expires_after must be an object", param="output_expires_after"
            )
        ttl = check_expiry(expiry.get("anchor"), expiry.get("seconds"))
    record = service.create(body, output_ttl_s=ttl)
    return json_response(batch_object(service.view(record), service.ends_at(record)))


async def retrieve_batch(request: web.Request) -> web.Response:
    service = _batches(request)
    record = service.get(request.match_info["id"])
    return json_response(batch_object(await service.settle(record), service.ends_at(record)))


async def list_batches(request: web.Request) -> web.Response:
    service = _batches(request)
    records, has_more = service.page(
        request.query.get("after") or None, query_int(request, "limit", 20, 1, 100)
    )
    data = [batch_object(await service.settle(r), service.ends_at(r)) for r in records]
    page: dict[str, Any] = {"object": "list", "data": data, "has_more": has_more}
    if data:
        page["first_id"] = data[0]["id"]
        page["last_id"] = data[-1]["id"]
    return json_response(page)


async def cancel_batch(request: web.Request) -> web.Response:
    service = _batches(request)
    record = service.cancel(service.get(request.match_info["id"]))
    return json_response(batch_object(service.view(record), service.ends_at(record)))


def add_batch_routes(app: web.Application, prefix: str = "/v1") -> None:
    r = app.router
    r.add_post(f"{prefix}/batches", create_batch)
    r.add_get(f"{prefix}/batches", list_batches)
    r.add_get(f"{prefix}/batches/{{id}}", retrieve_batch)
    r.add_post(f"{prefix}/batches/{{id}}/cancel", cancel_batch)
