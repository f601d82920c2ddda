"""ARM deployments: create, read, list, delete, and what chat sees of each one.

A deployment's provisioning is read off the clock like a job's progress:
``Accepted`` in the PUT answer, ``Creating`` until ``provisioned_at``, then
``Succeeded`` (or ``Failed`` when its model does not exist). After
``Succeeded`` the data plane still answers ``DeploymentNotReady`` until
``ready_at``, as a freshly provisioned Azure deployment can. Delays come from
the runtime knobs ``deployment_provisioning_seconds`` and
``deployment_not_ready_seconds`` (emulated seconds, divided by ``speed``),
fixed for each deployment when it is created.

Status code of DeploymentNotReady: no public record of Azure's status for it
was found (bug reports show only DeploymentNotFound, a 404), so it answers 404
as well; a client that waits on DeploymentNotFound then waits on this too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ftd import catalog
from ftd.emulator.apierrors import ApiError
from ftd.emulator.azure import ids as azure_ids
from ftd.emulator.azure.errors import DEPLOYMENT_NOT_FOUND, DEPLOYMENT_NOT_READY
from ftd.emulator.azure.models import bases, resolve_base
from ftd.emulator.azure.store import (
    AzureStore,
    DeploymentRecord,
    OperationRecord,
    deployment_key,
)
from ftd.logs import get_logger

if TYPE_CHECKING:
    from ftd.emulator.azure.jobs import AzureJobs
    from ftd.emulator.core import EmulatorCore

log = get_logger(__name__)

ACCEPTED = "Accepted"
CREATING = "Creating"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
DEPLOYMENT_TYPE = "Microsoft.CognitiveServices/accounts/deployments"
MODEL_FORMAT = "OpenAI"
NOT_READY_STATUS = 404
# What a PUT did.
CREATED = "created"
REPLACED = "replaced"
UNCHANGED = "unchanged"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def resource_id(record: DeploymentRecord) -> str:
    return (
        f"/subscriptions/{record.subscription}/resourceGroups/{record.resource_group}"
        f"/providers/Microsoft.CognitiveServices/accounts/{record.account}"
        f"/deployments/{record.name}"
    )


def _invalid(message: str) -> ApiError:
    return ApiError(400, message, code="InvalidResourceProperties")


def _parse_body(body: dict[str, Any]) -> tuple[str, int | None, str, str | None]:
    """(sku name, capacity, model name, model version) of a PUT body, or a 400 naming the field."""
    sku = body.get("sku")
    if not isinstance(sku, dict) or not isinstance(sku.get("name"), str) or not sku["name"]:
        raise _invalid("sku.name is required and must be a string.")
    capacity = sku.get("capacity")
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1
    ):
        raise _invalid(f"sku.capacity must be a positive integer, got {capacity!r}.")
    properties = body.get("properties")
    model = properties.get("model") if isinstance(properties, dict) else None
    if not isinstance(model, dict):
        raise _invalid("properties.model is required.")
    if model.get("format") != MODEL_FORMAT:
        raise _invalid(
            f"properties.model.format must be '{MODEL_FORMAT}', got {model.get('format')!r}."
        )
    name = model.get("name")
    if not isinstance(name, str) or not name:
        raise _invalid("properties.model.name is required and must be a string.")
    version = model.get("version")
    if version is not None and not isinstance(version, str):
        raise _invalid("properties.model.version must be a string.")
    return sku["name"], capacity, name, version


class Deployments:
    def __init__(self, core: EmulatorCore, store: AzureStore, jobs: AzureJobs) -> None:
        self._core = core
        self._store = store
        self._jobs = jobs
        self.puts = 0
        self.deletes = 0

    # -- what a deployment serves --------------------------------------------------
    def target(self, record: DeploymentRecord) -> str | None:
        """The base snapshot or fine-tuned model a deployment's model names, if it exists."""
        base = resolve_base(record.model_name, record.model_version)
        if base is not None:
            return base
        if record.model_name in catalog.EMBEDDING_MODELS:
            return record.model_name
        if self._jobs.find_model(record.model_name) is not None:
            return record.model_name
        return None

    def _model_exists(self, name: str, version: str | None) -> bool:
        if resolve_base(name, version) is not None or name in catalog.EMBEDDING_MODELS:
            return True
        return azure_ids.job_of_model(name) is not None and self._jobs.find_model(name) is not None

    def state(self, record: DeploymentRecord) -> str:
        if self._core.clock() < record.provisioned_at:
            return CREATING
        return SUCCEEDED if record.model_exists else FAILED

    # -- ARM operations ------------------------------------------------------------
    def get(
        self, subscription: str, resource_group: str, account: str, name: str
    ) -> DeploymentRecord:
        record = self._store.deployments.get(
            deployment_key(subscription, resource_group, account, name)
        )
        if record is None:
            raise ApiError(
                404,
                f"The specified deployment '{name}' does not exist.",
                code=DEPLOYMENT_NOT_FOUND,
            )
        return record

    def put(
        self, subscription: str, resource_group: str, account: str, name: str, body: dict[str, Any]
    ) -> tuple[DeploymentRecord, str]:
        """Create, replace or keep as is (same model and sku): the record and which it was."""
        self.puts += 1
        if not _NAME.match(name):
            raise _invalid(
                f"Deployment name '{name}' must be 1 to 64 letters, digits, '.', '-' or '_'."
            )
        sku_name, capacity, model_name, version = _parse_body(body)
        key = deployment_key(subscription, resource_group, account, name)
        existing = self._store.deployments.get(key)
        if (
            existing is not None
            and (existing.model_name, existing.model_version) == (model_name, version)
            and (existing.sku_name, existing.sku_capacity) == (sku_name, capacity)
        ):
            log.info("deployment_put_unchanged", deployment=name)
            return existing, UNCHANGED
        now = self._core.clock()
        speed = self._core.config.speed
        provisioned = now + self._core.config.deployment_provisioning_seconds / speed
        operation = OperationRecord(
            id=azure_ids.hex_id(),
            kind="create",
            deployment=key,
            started_at=now,
            done_at=provisioned,
            failed=not self._model_exists(model_name, version),
        )
        record = DeploymentRecord(
            subscription=subscription,
            resource_group=resource_group,
            account=account,
            name=name,
            sku_name=sku_name,
            sku_capacity=capacity,
            model_format=MODEL_FORMAT,
            model_name=model_name,
            model_version=version,
            created_at=now if existing is None else existing.created_at,
            provisioned_at=provisioned,
            ready_at=provisioned + self._core.config.deployment_not_ready_seconds / speed,
            model_exists=not operation.failed,
            operation_id=operation.id,
        )
        self._store.save_operation(operation)
        self._store.save_deployment(record)
        log.info(
            "deployment_put",
            deployment=name,
            model=model_name,
            model_exists=record.model_exists,
            replaced=existing is not None,
        )
        return record, CREATED if existing is None else REPLACED

    def delete(
        self, subscription: str, resource_group: str, account: str, name: str
    ) -> OperationRecord | None:
        self.deletes += 1
        key = deployment_key(subscription, resource_group, account, name)
        if key not in self._store.deployments:
            return None
        now = self._core.clock()
        operation = OperationRecord(azure_ids.hex_id(), "delete", key, now, now, failed=False)
        self._store.save_operation(operation)
        self._store.remove_deployment(key)
        log.info("deployment_deleted", deployment=name)
        return operation

    def in_account(
        self, subscription: str, resource_group: str, account: str
    ) -> list[DeploymentRecord]:
        prefix = deployment_key(subscription, resource_group, account, "")
        return [r for key, r in self._store.deployments.items() if key.startswith(prefix)]

    def live(self) -> list[DeploymentRecord]:
        return list(self._store.deployments.values())

    def operation(self, operation_id: str) -> OperationRecord:
        operation = self._store.operations.get(operation_id)
        if operation is None:
            raise ApiError(
                404, f"Operation '{operation_id}' was not found.", code="OperationNotFound"
            )
        return operation

    def operation_status(self, operation: OperationRecord) -> str:
        if self._core.clock() < operation.done_at:
            return "InProgress"
        return "Failed" if operation.failed else "Succeeded"

    # -- what the data plane sees ------------------------------------------------------
    def for_chat(self, name: str) -> str:
        """The model a chat (or embeddings) request on this deployment name answers from,
        or Azure's refusal."""
        record = next((r for r in self._store.deployments.values() if r.name == name), None)
        missing = ApiError(
            404,
            "The API deployment for this resource does not exist. If you created the "
            "deployment within the last 5 minutes, please wait a moment and try again.",
            code=DEPLOYMENT_NOT_FOUND,
        )
        if record is None or self.state(record) != SUCCEEDED:
            raise missing
        if self._core.clock() < record.ready_at:
            raise ApiError(
                NOT_READY_STATUS,
                f"The deployment '{name}' is not ready yet. Please wait a moment and try again.",
                code=DEPLOYMENT_NOT_READY,
            )
        target = self.target(record)
        if target is None:
            raise missing  # its fine-tuned model was deleted since
        return target

    # -- rendering -------------------------------------------------------------------------
    def render(self, record: DeploymentRecord, provisioning: str | None = None) -> dict[str, Any]:
        version = record.model_version
        if version is None:
            base = resolve_base(record.model_name, None)
            version = base.removeprefix(bases()[base].family + "-") if base else "1"
        sku: dict[str, Any] = {"name": record.sku_name}
        if record.sku_capacity is not None:
            sku["capacity"] = record.sku_capacity
        properties: dict[str, Any] = {
            "model": {"format": record.model_format, "name": record.model_name, "version": version},
            "provisioningState": provisioning or self.state(record),
            "capabilities": {"chatCompletion": "true"},
            "raiPolicyName": "Microsoft.DefaultV2",
        }
        if record.sku_capacity is not None:
            properties["currentCapacity"] = record.sku_capacity
        return {
            "id": resource_id(record),
            "name": record.name,
            "type": DEPLOYMENT_TYPE,
            "sku": sku,
            "etag": f'"{record.operation_id}"',
            "properties": properties,
        }
