"""The ``/v1`` routes: thin handlers that read parameters, call a service, render JSON.

Path parameters are all named ``{id}`` so that the stats keys read the same
for every resource (``GET /v1/files/{id}``, ``POST /v1/uploads/{id}/parts``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftd.emulator.batch_routes import add_batch_routes
from ftd.emulator.core import CORE, EmulatorCore
from ftd.emulator.files import file_object
from ftd.emulator.params import json_body, metadata_filter, query_choice, query_int
from ftd.emulator.records import CANCEL, PAUSE, RESUME
from ftd.emulator.traffic import json_response

if TYPE_CHECKING:
    from aiohttp import web

MAX_LIST_LIMIT = 10_000


def _core(request: web.Request) -> EmulatorCore:
    return request.app[CORE]


def _page(data: list[dict[str, Any]], has_more: bool, *, ids: bool = False) -> dict[str, Any]:
    page: dict[str, Any] = {"object": "list", "data": data, "has_more": has_more}
    if ids:
        page["first_id"] = data[0]["id"] if data else None
        page["last_id"] = data[-1]["id"] if data else None
    return page


# -- files -------------------------------------------------------------------------------
async def create_file(request: web.Request) -> web.Response:
    record = await _core(request).files.create(request)
    return json_response(file_object(record))


async def list_files(request: web.Request) -> web.Response:
    core = _core(request)
    core.jobs.settle_all()
    records, has_more = core.files.list(
        request.query.get("purpose") or None,
        query_int(request, "limit", MAX_LIST_LIMIT, 1, MAX_LIST_LIMIT),
        query_choice(request, "order", "desc", ("asc", "desc")),
        request.query.get("after") or None,
    )
    page = _page([file_object(r) for r in records], has_more, ids=True)
    # The spec declares the cursors as strings; an empty page repeats the empty string.
    page["first_id"] = page["first_id"] or ""
    page["last_id"] = page["last_id"] or ""
    return json_response(page)


async def retrieve_file(request: web.Request) -> web.Response:
    return json_response(file_object(_core(request).files.get(request.match_info["id"])))


async def file_content(request: web.Request) -> web.StreamResponse:
    files = _core(request).files
    return files.content(files.get(request.match_info["id"]))


async def delete_file(request: web.Request) -> web.Response:
    core = _core(request)
    record = core.files.get(request.match_info["id"])
    return json_response(core.files.delete(record, referenced=core.referenced_by_job(record.id)))


# -- uploads -----------------------------------------------------------------------------
async def create_upload(request: web.Request) -> web.Response:
    core = _core(request)
    upload = core.uploads.create(await json_body(request))
    return json_response(core.uploads.render(upload))


async def add_upload_part(request: web.Request) -> web.Response:
    part = await _core(request).uploads.add_part(request.match_info["id"], request)
    return json_response(part)


async def complete_upload(request: web.Request) -> web.Response:
    core = _core(request)
    upload = await core.uploads.complete(request.match_info["id"], await json_body(request))
    return json_response(core.uploads.render(upload))


async def cancel_upload(request: web.Request) -> web.Response:
    core = _core(request)
    return json_response(core.uploads.render(core.uploads.cancel(request.match_info["id"])))


# -- fine-tuning jobs ----------------------------------------------------------------------
async def create_job(request: web.Request) -> web.Response:
    core = _core(request)
    job = await core.jobs.create(await json_body(request))
    return json_response(core.jobs.view(job, created=True))


async def list_jobs(request: web.Request) -> web.Response:
    core = _core(request)
    metadata, without = metadata_filter(request)
    jobs, has_more = core.jobs.list_jobs(
        request.query.get("after") or None,
        query_int(request, "limit", 20, 0, MAX_LIST_LIMIT),
        metadata,
        without,
    )
    return json_response(_page([core.jobs.view(job) for job in jobs], has_more))


async def retrieve_job(request: web.Request) -> web.Response:
    core = _core(request)
    return json_response(core.jobs.view(core.jobs.get(request.match_info["id"])))


def _control(kind: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        core = _core(request)
        return json_response(core.jobs.view(core.jobs.control(request.match_info["id"], kind)))

    handler.__name__ = f"{kind}_job"
    return handler


async def list_events(request: web.Request) -> web.Response:
    core = _core(request)
    events, has_more = core.jobs.events(
        request.match_info["id"],
        request.query.get("after") or None,
        query_int(request, "limit", 20, 0, MAX_LIST_LIMIT),
    )
    return json_response(_page(events, has_more))


async def list_checkpoints(request: web.Request) -> web.Response:
    core = _core(request)
    checkpoints, has_more = core.jobs.checkpoints(
        request.match_info["id"],
        request.query.get("after") or None,
        query_int(request, "limit", 10, 0, MAX_LIST_LIMIT),
    )
    return json_response(_page(checkpoints, has_more, ids=True))


# -- models and chat -------------------------------------------------------------------------
async def list_models(request: web.Request) -> web.Response:
    core = _core(request)
    core.jobs.settle_all()
    return json_response({"object": "list", "data": core.models.list()})


async def retrieve_model(request: web.Request) -> web.Response:
    return json_response(_core(request).models.retrieve(request.match_info["id"]))


async def delete_model(request: web.Request) -> web.Response:
    return json_response(_core(request).models.delete(request.match_info["id"]))


async def chat_completion(request: web.Request) -> web.Response:
    return json_response(await _core(request).chat.complete(await json_body(request)))


async def create_embeddings(request: web.Request) -> web.Response:
    return json_response(await _core(request).embeddings.answer(await json_body(request)))


def add_api_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/v1/files", create_file)
    r.add_get("/v1/files", list_files)
    r.add_get("/v1/files/{id}", retrieve_file)
    r.add_get("/v1/files/{id}/content", file_content)
    r.add_delete("/v1/files/{id}", delete_file)
    r.add_post("/v1/uploads", create_upload)
    r.add_post("/v1/uploads/{id}/parts", add_upload_part)
    r.add_post("/v1/uploads/{id}/complete", complete_upload)
    r.add_post("/v1/uploads/{id}/cancel", cancel_upload)
    r.add_post("/v1/fine_tuning/jobs", create_job)
    r.add_get("/v1/fine_tuning/jobs", list_jobs)
    r.add_get("/v1/fine_tuning/jobs/{id}", retrieve_job)
    r.add_post("/v1/fine_tuning/jobs/{id}/cancel", _control(CANCEL))
    r.add_post("/v1/fine_tuning/jobs/{id}/pause", _control(PAUSE))
    r.add_post("/v1/fine_tuning/jobs/{id}/resume", _control(RESUME))
    r.add_get("/v1/fine_tuning/jobs/{id}/events", list_events)
    r.add_get("/v1/fine_tuning/jobs/{id}/checkpoints", list_checkpoints)
    r.add_get("/v1/models", list_models)
    r.add_get("/v1/models/{id}", retrieve_model)
    r.add_delete("/v1/models/{id}", delete_model)
    r.add_post("/v1/chat/completions", chat_completion)
    r.add_post("/v1/embeddings", create_embeddings)
    add_batch_routes(app)
