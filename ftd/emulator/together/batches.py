"""Together's ``/v1/batches`` routes over the shared batch engine, in the Together spec's shapes.

Together's batch job differs from OpenAI's batch: upper-case statuses with
no finalizing or cancelling step (both still read IN_PROGRESS), ISO times,
a progress percentage instead of request counts, no metadata, input files
of purpose ``batch-api`` and output files of purpose ``batch-generated``,
the completion window optional; create answers 201 with the job under
``job``, and the list is a bare array.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ftd.emulator.apierrors import ApiError
from ftd.emulator.batches import BatchService
from ftd.emulator.params import json_body
from ftd.emulator.together.jobs import iso
from ftd.emulator.traffic import json_response

if TYPE_CHECKING:
    from aiohttp import web

    from ftd.emulator.batches import BatchView
    from ftd.emulator.core import EmulatorCore
    from ftd.emulator.together.service import TogetherService

INPUT_PURPOSE = "batch-api"
OUTPUT_PURPOSE = "batch-generated"
USER_ID = "user_emulated"
# Together's ceilings on one batch's input file: 50,000 requests, 100 MB (OpenAI's: 200 MB).
MAX_REQUESTS = 50_000
MAX_INPUT_BYTES = 100 * 1024 * 1024
_STATUS = {
    "validating": "VALIDATING",
    "in_progress": "IN_PROGRESS",
    "finalizing": "IN_PROGRESS",
    "cancelling": "IN_PROGRESS",
    "completed": "COMPLETED",
    "failed": "FAILED",
    "expired": "EXPIRED",
    "cancelled": "CANCELLED",
}


def together_batches(core: EmulatorCore, chat: Any) -> BatchService:
    """The shared engine with Together's purposes, answering through Together's chat."""
    return BatchService(
        core.state,
        core.config,
        chat,
        clock=core.clock,
        input_purpose=INPUT_PURPOSE,
        output_purpose=OUTPUT_PURPOSE,
        default_window="24h",
        max_requests=MAX_REQUESTS,
        max_input_bytes=MAX_INPUT_BYTES,
    )


def batch_job(view: BatchView, deadline: int) -> dict[str, Any]:
    record = view.record
    status = _STATUS.get(view.status, view.status.upper())
    total = record.total
    done = view.completed + view.failed
    body: dict[str, Any] = {
        "id": record.id,
        "user_id": USER_ID,
        "input_file_id": record.input_file_id,
        "status": status,
        "job_deadline": iso(deadline),
        "created_at": iso(record.created_at),
        "endpoint": record.endpoint,
        "progress": round(100.0 * done / total, 2) if total else 0.0,
    }
    if record.model:
        body["model_id"] = record.model
    if record.settled and record.output_file_id:
        body["output_file_id"] = record.output_file_id
    if record.settled and record.error_file_id:
        body["error_file_id"] = record.error_file_id
    if record.errors:
        body["error"] = "; ".join(str(e.get("message")) for e in record.errors)
    ended = view.times.get("completed_at") or view.times.get("failed_at")
    ended = ended or view.times.get("expired_at") or view.times.get("cancelled_at")
    if ended is not None:
        body["completed_at"] = iso(ended)
    return body


Handler = Callable[["web.Request"], Awaitable["web.Response"]]


def _plain_errors(handler: Handler) -> Handler:
    """Together's batch routes answer errors as ``{"error": "<message>"}`` (BatchErrorResponse);
    a batch that can no longer be cancelled is a 400 there, not OpenAI's 409."""

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except ApiError as exc:
            status = 400 if exc.status == 409 else exc.status
            return json_response({"error": exc.message}, status=status)

    return answer


def _service(request: web.Request) -> BatchService:
    from ftd.emulator.together.service import TOGETHER

    together: TogetherService = request.app[TOGETHER]
    return together.batches


@_plain_errors
async def create_batch(request: web.Request) -> web.Response:
    service = _service(request)
    body = await json_body(request)
    body.pop("priority", None)
    body.pop("model_id", None)  # the model is read from the requests themselves
    record = service.create(body)
    job = batch_job(service.view(record), service.ends_at(record))
    return json_response({"job": job}, status=201)


@_plain_errors
async def retrieve_batch(request: web.Request) -> web.Response:
    service = _service(request)
    record = service.get(request.match_info["id"])
    return json_response(batch_job(await service.settle(record), service.ends_at(record)))


@_plain_errors
async def list_batches(request: web.Request) -> web.Response:
    service = _service(request)
    records = list(reversed(service.batches.values()))  # newest first
    return json_response([batch_job(await service.settle(r), service.ends_at(r)) for r in records])


@_plain_errors
async def cancel_batch(request: web.Request) -> web.Response:
    service = _service(request)
    record = service.cancel(service.get(request.match_info["id"]))
    return json_response(batch_job(service.view(record), service.ends_at(record)))


def add_batch_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/v1/batches", create_batch)
    r.add_get("/v1/batches", list_batches)
    r.add_get("/v1/batches/{id}", retrieve_batch)
    r.add_post("/v1/batches/{id}/cancel", cancel_batch)
