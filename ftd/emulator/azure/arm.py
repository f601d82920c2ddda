"""The Azure Resource Manager routes: deployments, their operations, the account's models.

Served on the emulator's own port, standing in for ``management.azure.com``.
PUT answers 201 ``Accepted`` with an ``azure-asyncoperation`` header (the
spec's final-state-via for Deployments_CreateOrUpdate), or 200 with the
deployment as it is when the same model and sku are put again. DELETE answers
202 with the operation headers (examples/DeleteDeployment.json) and the
deployment is gone at once; 204 when there was none. Lists page with
``nextLink`` and ``$skipToken``, ``arm_page_size`` entries a page.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ftd.emulator.apierrors import ApiError
from ftd.emulator.azure.deployments import ACCEPTED, CREATED, UNCHANGED, resource_id
from ftd.emulator.azure.service import AZURE, AzureService
from ftd.emulator.params import json_body
from ftd.emulator.traffic import json_response

if TYPE_CHECKING:
    from ftd.emulator.azure.store import OperationRecord

API_VERSION = "2024-10-01"
LOCATION = "eastus"
PROVIDER = "/providers/Microsoft.CognitiveServices"
ACCOUNT = (
    "/subscriptions/{subscription}/resourceGroups/{resource_group}"
    + PROVIDER
    + "/accounts/{account}"
)
OPERATION = "/subscriptions/{subscription}" + PROVIDER + "/locations/{location}/operations/{id}"


def _azure(request: web.Request) -> AzureService:
    version = request.query.get("api-version")
    if not version:
        raise ApiError(
            400,
            "The api-version query parameter (?api-version=) is required for all requests.",
            code="MissingApiVersionParameter",
        )
    return request.app[AZURE]


def _account(request: web.Request) -> tuple[str, str, str]:
    info = request.match_info
    return info["subscription"], info["resource_group"], info["account"]


def _iso(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _operation_url(request: web.Request, subscription: str, operation: OperationRecord) -> str:
    return (
        f"{request.url.origin()}/subscriptions/{subscription}{PROVIDER}/locations/{LOCATION}"
        f"/operations/{operation.id}?api-version={API_VERSION}"
    )


def _page(request: web.Request, items: list[dict[str, Any]], size: int) -> dict[str, Any]:
    raw = request.query.get("$skipToken", "0")
    start = int(raw) if raw.isdigit() else 0
    page: dict[str, Any] = {"value": items[start : start + size]}
    if start + size < len(items):
        query = dict(request.query)
        query["$skipToken"] = str(start + size)
        page["nextLink"] = str(request.url.with_query(query))
    return page


async def put_deployment(request: web.Request) -> web.Response:
    azure = _azure(request)
    subscription, resource_group, account = _account(request)
    name = request.match_info["name"]
    record, outcome = azure.deployments.put(
        subscription, resource_group, account, name, await json_body(request)
    )
    if outcome == UNCHANGED:
        return json_response(azure.deployments.render(record))
    response = json_response(
        azure.deployments.render(record, ACCEPTED), 201 if outcome == CREATED else 200
    )
    url = _operation_url(request, subscription, azure.deployments.operation(record.operation_id))
    response.headers["azure-asyncoperation"] = url
    response.headers["location"] = url
    return response


async def get_deployment(request: web.Request) -> web.Response:
    azure = _azure(request)
    record = azure.deployments.get(*_account(request), request.match_info["name"])
    return json_response(azure.deployments.render(record))


async def delete_deployment(request: web.Request) -> web.Response:
    azure = _azure(request)
    subscription, resource_group, account = _account(request)
    operation = azure.deployments.delete(
        subscription, resource_group, account, request.match_info["name"]
    )
    if operation is None:
        return web.Response(status=204)
    url = _operation_url(request, subscription, operation)
    return web.Response(status=202, headers={"azure-asyncoperation": url, "location": url})


async def list_deployments(request: web.Request) -> web.Response:
    azure = _azure(request)
    records = azure.deployments.in_account(*_account(request))
    items = [azure.deployments.render(record) for record in records]
    return json_response(_page(request, items, azure.core.config.arm_page_size))


async def list_account_models(request: web.Request) -> web.Response:
    azure = _azure(request)
    azure.core.jobs.settle_all()
    items = azure.models.arm_objects()
    return json_response(_page(request, items, azure.core.config.arm_page_size))


async def get_operation(request: web.Request) -> web.Response:
    azure = _azure(request)
    operation = azure.deployments.operation(request.match_info["id"])
    status = azure.deployments.operation_status(operation)
    body: dict[str, Any] = {
        "id": request.path,
        "name": operation.id,
        "status": status,
        "startTime": _iso(operation.started_at),
    }
    if status != "InProgress":
        body["endTime"] = _iso(operation.done_at)
    if status == "Failed":
        body["error"] = {
            "code": "DeploymentModelNotFound",
            "message": "The model of this deployment does not exist or is not ready to deploy.",
        }
    return json_response(body)


def add_arm_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(ACCOUNT + "/deployments", list_deployments)
    r.add_put(ACCOUNT + "/deployments/{name}", put_deployment)
    r.add_get(ACCOUNT + "/deployments/{name}", get_deployment)
    r.add_delete(ACCOUNT + "/deployments/{name}", delete_deployment)
    r.add_get(ACCOUNT + "/models", list_account_models)
    r.add_get(OPERATION, get_operation)


async def admin_deployments(request: web.Request) -> web.Response:
    """``GET /_emulator/deployments``: live deployments and PUT/DELETE counts, for tests."""
    azure = request.app[AZURE]
    deployments = azure.deployments
    live = [
        {
            "id": resource_id(record),
            "name": record.name,
            "model": record.model_name,
            "provisioningState": deployments.state(record),
            "created_at": record.created_at,
            "ready_at": record.ready_at,
        }
        for record in deployments.live()
    ]
    return json_response(
        {"deployments": live, "puts": deployments.puts, "deletes": deployments.deletes}
    )


async def admin_jobs(request: web.Request) -> web.Response:
    """``GET /_emulator/azure_jobs``: each job's training tier and the service's pauses."""
    azure = request.app[AZURE]
    return json_response(
        {
            job_id: {
                "trainingType": extra.training_type,
                "service_paused_at": extra.service_pause_at,
                "service_resumed": extra.service_resumed,
            }
            for job_id, extra in azure.store.extras.items()
        }
    )
