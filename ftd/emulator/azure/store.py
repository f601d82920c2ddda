"""What the Azure flavour keeps beyond the core's records, in the same journal.

Rows go to the core's write-through journal under their own kinds, so
``--state PATH`` keeps deployments and training tiers across a restart the
way it keeps jobs, without the core knowing these records exist.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ftd.emulator.persistence import Journal

JOB_EXTRA = "azure_job"
DEPLOYMENT = "azure_deployment"
OPERATION = "azure_operation"


@dataclass(slots=True)
class JobExtra:
    """Azure-only facts of a job: its training tier and the pauses the service made."""

    job_id: str
    training_type: str | None
    service_pause_at: float | None = None  # wall time of the service's own pause
    service_resumed: bool = False


@dataclass(slots=True)
class DeploymentRecord:
    """One ARM deployment; its state is read off the clock like a job's."""

    subscription: str
    resource_group: str
    account: str
    name: str
    sku_name: str
    sku_capacity: int | None
    model_format: str
    model_name: str
    model_version: str | None
    created_at: float
    provisioned_at: float  # Accepted/Creating until then, then Succeeded or Failed
    ready_at: float  # chat answers DeploymentNotReady until then
    model_exists: bool
    operation_id: str

    @property
    def key(self) -> str:
        return deployment_key(self.subscription, self.resource_group, self.account, self.name)


@dataclass(slots=True)
class OperationRecord:
    """An ARM asynchronous operation, polled at its ``azure-asyncoperation`` URL."""

    id: str
    kind: str  # "create" or "delete"
    deployment: str  # the deployment's key
    started_at: float
    done_at: float
    failed: bool


def deployment_key(subscription: str, resource_group: str, account: str, name: str) -> str:
    """ARM resource names compare without regard to case."""
    return "/".join((subscription, resource_group, account, name)).lower()


def _row(record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


class AzureStore:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self.extras = {row["job_id"]: JobExtra(**row) for row in journal.load(JOB_EXTRA)}
        self.deployments: dict[str, DeploymentRecord] = {}
        for row in journal.load(DEPLOYMENT):
            record = DeploymentRecord(**row)
            self.deployments[record.key] = record
        self.operations = {row["id"]: OperationRecord(**row) for row in journal.load(OPERATION)}

    def save_extra(self, extra: JobExtra) -> None:
        self.extras[extra.job_id] = extra
        self._journal.save(JOB_EXTRA, extra.job_id, _row(extra))

    def save_deployment(self, record: DeploymentRecord) -> None:
        self.deployments[record.key] = record
        self._journal.save(DEPLOYMENT, record.key, _row(record))

    def remove_deployment(self, key: str) -> None:
        self.deployments.pop(key, None)
        self._journal.delete(DEPLOYMENT, key)

    def save_operation(self, operation: OperationRecord) -> None:
        self.operations[operation.id] = operation
        self._journal.save(OPERATION, operation.id, _row(operation))
