"""The data-plane routes: the v1 shape under ``/openai/v1`` and the api-version shape
under ``/openai``, one set of handlers for both.

Which shape a request has is read off its path (see
:func:`ftd.emulator.azure.errors.shape_of`); the shapes differ in status words,
event levels, null handling, create status codes (the authoring spec answers
201 to file and job creation) and error bodies.

Job listing takes ``after`` and ``limit`` only: neither spec declares a
metadata filter on ``GET /fine_tuning/jobs``, so ``metadata[…]`` query
parameters are ignored, as a server ignores query parameters it does not know.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ftd import catalog
from ftd.emulator.apierrors import bad_request
from ftd.emulator.azure.errors import AUTHORING, V1, shape_of
from ftd.emulator.azure.files import create_file, file_object
from ftd.emulator.azure.service import AZURE, AzureService
from ftd.emulator.params import json_body, query_choice, query_int
from ftd.emulator.records import CANCEL, PAUSE, RESUME
from ftd.emulator.traffic import json_response

if TYPE_CHECKING:
    from aiohttp import web

MAX_LIST_LIMIT = 10_000
V1_VERSIONS = ("v1", "preview")
_DATED_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


def _azure(request: web.Request) -> AzureService:
    """The Azure services, after checking the request's api-version for its shape."""
    version = request.query.get("api-version")
    shape = shape_of(request.path)
    if shape == V1:
        if version is not None and version not in V1_VERSIONS:
            raise bad_request(
                f"api-version must be one of {', '.join(V1_VERSIONS)} on /openai/v1, "
                f"got '{version}'",
                param="api-version",
            )
    elif not version:
        raise bad_request("Missing required query parameter: 'api-version'.", param="api-version")
    elif not _DATED_VERSION.match(version):
        raise bad_request(f"Unsupported api-version '{version}'.", param="api-version")
    return request.app[AZURE]


def _created(request: web.Request, body: dict[str, Any]) -> web.Response:
    return json_response(body, 201 if shape_of(request.path) == AUTHORING else 200)


# -- files ----------------------------------------------------------------------------
async def create_file_route(request: web.Request) -> web.Response:
    azure = _azure(request)
    record = await create_file(azure.core, request, shape_of(request.path))
    return _created(request, file_object(record))


async def list_files(request: web.Request) -> web.Response:
    core = _azure(request).core
    core.jobs.settle_all()
    records, has_more = core.files.list(
        request.query.get("purpose") or None,
        query_int(request, "limit", MAX_LIST_LIMIT, 1, MAX_LIST_LIMIT),
        query_choice(request, "order", "desc", ("asc", "desc")),
        request.query.get("after") or None,
    )
    data = [file_object(r) for r in records]
    page: dict[str, Any] = {"object": "list", "data": data, "has_more": has_more}
    if shape_of(request.path) == V1:
        page["first_id"] = data[0]["id"] if data else ""
        page["last_id"] = data[-1]["id"] if data else ""
    return json_response(page)


async def retrieve_file(request: web.Request) -> web.Response:
    core = _azure(request).core
    return json_response(file_object(core.files.get(request.match_info["id"])))


async def file_content(request: web.Request) -> web.StreamResponse:
    files = _azure(request).core.files
    return files.content(files.get(request.match_info["id"]))


async def delete_file(request: web.Request) -> web.Response:
    core = _azure(request).core
    record = core.files.get(request.match_info["id"])
    return json_response(core.files.delete(record, referenced=core.referenced_by_job(record.id)))


# -- fine-tuning jobs -------------------------------------------------------------------
async def create_job(request: web.Request) -> web.Response:
    azure = _azure(request)
    job = await azure.jobs.create(await json_body(request))
    response = _created(request, azure.jobs.render(job, shape_of(request.path)))
    if shape_of(request.path) == AUTHORING:
        response.headers["Location"] = f"{request.url.origin()}/openai/fine_tuning/jobs/{job.id}"
    return response


async def list_jobs(request: web.Request) -> web.Response:
    azure = _azure(request)
    azure.jobs.touch_all()
    jobs, has_more = azure.core.jobs.list_jobs(
        request.query.get("after") or None,
        query_int(request, "limit", 20, 1, MAX_LIST_LIMIT),
        None,
        False,
    )
    shape = shape_of(request.path)
    data = [azure.jobs.render(job, shape) for job in jobs]
    return json_response({"object": "list", "data": data, "has_more": has_more})


async def retrieve_job(request: web.Request) -> web.Response:
    azure = _azure(request)
    job = azure.jobs.get(request.match_info["id"])
    return json_response(azure.jobs.render(job, shape_of(request.path)))


def _control(kind: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        azure = _azure(request)
        job = azure.jobs.control(request.match_info["id"], kind)
        return json_response(azure.jobs.render(job, shape_of(request.path)))

    handler.__name__ = f"{kind}_job"
    return handler


async def list_events(request: web.Request) -> web.Response:
    azure = _azure(request)
    events, has_more = azure.jobs.events(
        request.match_info["id"],
        request.query.get("after") or None,
        query_int(request, "limit", 20, 1, MAX_LIST_LIMIT),
        shape_of(request.path),
    )
    return json_response({"object": "list", "data": events, "has_more": has_more})


async def list_checkpoints(request: web.Request) -> web.Response:
    azure = _azure(request)
    checkpoints, has_more = azure.jobs.checkpoints(
        request.match_info["id"],
        request.query.get("after") or None,
        query_int(request, "limit", 10, 1, MAX_LIST_LIMIT),
    )
    page: dict[str, Any] = {"object": "list", "data": checkpoints, "has_more": has_more}
    if shape_of(request.path) == V1:
        page["first_id"] = checkpoints[0]["id"] if checkpoints else None
        page["last_id"] = checkpoints[-1]["id"] if checkpoints else None
    return json_response(page)


# -- models and chat ----------------------------------------------------------------------
async def list_models(request: web.Request) -> web.Response:
    azure = _azure(request)
    azure.core.jobs.settle_all()
    data = azure.models.list_objects(shape_of(request.path))
    return json_response({"object": "list", "data": data})


async def retrieve_model(request: web.Request) -> web.Response:
    azure = _azure(request)
    return json_response(
        azure.models.retrieve_object(request.match_info["id"], shape_of(request.path))
    )


async def _chat(azure: AzureService, body: dict[str, Any], deployment: object) -> web.Response:
    if not isinstance(deployment, str) or not deployment:
        raise bad_request("model must name a deployment", param="model")
    target = azure.deployments.for_chat(deployment)
    return json_response(await azure.chat.complete({**body, "model": target}))


async def chat_v1(request: web.Request) -> web.Response:
    """v1: the deployment's name comes as ``model``."""
    azure = _azure(request)
    body = await json_body(request)
    return await _chat(azure, body, body.get("model"))


async def chat_deployment(request: web.Request) -> web.Response:
    """api-version shape: the deployment's name is in the path."""
    azure = _azure(request)
    return await _chat(azure, await json_body(request), request.match_info["deployment"])


async def embeddings_v1(request: web.Request) -> web.Response:
    """v1: the deployment's name comes as ``model``, as for chat; a deployment of a chat
    model is refused the way Azure refuses an operation its model does not do."""
    azure = _azure(request)
    body = await json_body(request)
    deployment = body.get("model")
    if not isinstance(deployment, str) or not deployment:
        raise bad_request("model must name a deployment", param="model")
    target = azure.deployments.for_chat(deployment)
    if target not in catalog.EMBEDDING_MODELS:
        raise bad_request(
            f"The embeddings operation does not work with the specified model, {target}. "
            "Please choose a different model and try again.",
            code="OperationNotSupported",
        )
    return json_response(await azure.core.embeddings.answer({**body, "model": target}))


def add_data_plane_routes(app: web.Application) -> None:
    r = app.router
    for prefix in ("/openai/v1", "/openai"):
        r.add_post(f"{prefix}/files", create_file_route)
        r.add_get(f"{prefix}/files", list_files)
        r.add_get(f"{prefix}/files/{{id}}", retrieve_file)
        r.add_get(f"{prefix}/files/{{id}}/content", file_content)
        r.add_delete(f"{prefix}/files/{{id}}", delete_file)
        r.add_post(f"{prefix}/fine_tuning/jobs", create_job)
        r.add_get(f"{prefix}/fine_tuning/jobs", list_jobs)
        r.add_get(f"{prefix}/fine_tuning/jobs/{{id}}", retrieve_job)
        r.add_post(f"{prefix}/fine_tuning/jobs/{{id}}/cancel", _control(CANCEL))
        r.add_post(f"{prefix}/fine_tuning/jobs/{{id}}/pause", _control(PAUSE))
        r.add_post(f"{prefix}/fine_tuning/jobs/{{id}}/resume", _control(RESUME))
        r.add_get(f"{prefix}/fine_tuning/jobs/{{id}}/events", list_events)
        r.add_get(f"{prefix}/fine_tuning/jobs/{{id}}/checkpoints", list_checkpoints)
        r.add_get(f"{prefix}/models", list_models)
        r.add_get(f"{prefix}/models/{{id}}", retrieve_model)
    r.add_post("/openai/v1/chat/completions", chat_v1)
    r.add_post("/openai/v1/embeddings", embeddings_v1)
    r.add_post("/openai/deployments/{deployment}/chat/completions", chat_deployment)
