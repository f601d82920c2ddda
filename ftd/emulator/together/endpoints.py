"""Dedicated endpoints (``/endpoints``) and what chat is served by.

An endpoint's state is read off the clock: ``PENDING`` for the first third of
``deployment_provisioning_seconds`` (the knob Azure's deployments use, emulated
seconds divided by ``speed``), ``STARTING`` until it has passed, then
``STARTED``. Chat names a dedicated endpoint by its ``name``; a request to one
that has not started is answered 503, which a client retries, as the spec lists
503 among chat's answers.

Serverless: a base model always answers under its own name; a completed LoRA
fine-tune of a base with ``serverless_lora`` answers under its output name.
Anything else is refused with Together's words for a model that needs a
dedicated endpoint (404 ``model_not_available``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftd.emulator.apierrors import ApiError, bad_request, not_found
from ftd.emulator.models import ServedModel
from ftd.emulator.together import catalog
from ftd.emulator.together import ids as together_ids
from ftd.emulator.together.jobs import COMPLETED, FULL, TogetherJobs, iso
from ftd.emulator.together.store import EndpointRecord, TogetherStore
from ftd.logs import get_logger

if TYPE_CHECKING:
    from ftd.emulator.core import EmulatorCore

log = get_logger(__name__)

PENDING = "PENDING"
STARTING = "STARTING"
STARTED = "STARTED"
STOPPED = "STOPPED"


def not_serverless(model: str) -> ApiError:
    return ApiError(
        404,
        f"Unable to access non-serverless model {model}. Please visit "
        f"https://api.together.ai/models/{model} to create and start a new dedicated "
        "endpoint for the model.",
        param="model",
        code="model_not_available",
    )


class Endpoints:
    def __init__(self, core: EmulatorCore, store: TogetherStore, jobs: TogetherJobs) -> None:
        self._core = core
        self._store = store
        self._jobs = jobs

    def state(self, record: EndpointRecord) -> str:
        if record.stopped:
            return STOPPED
        now = self._core.clock()
        if now >= record.started_at:
            return STARTED
        third = (record.started_at - record.created_at) / 3
        return PENDING if now < record.created_at + third else STARTING

    def render(self, record: EndpointRecord, *, listed: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "object": "endpoint",
            "id": record.id,
            "name": record.name,
            "model": record.model,
            "type": "dedicated",
            "owner": self._core.settings.organization,
            "state": self.state(record),
            "created_at": iso(record.created_at),
        }
        if not listed:
            body["display_name"] = record.display_name
            body["hardware"] = record.hardware
            body["autoscaling"] = {
                "min_replicas": record.min_replicas,
                "max_replicas": record.max_replicas,
            }
        return body

    def _fine_tune(self, model: str) -> tuple[Any, Any] | None:
        for job, extra in self._jobs.all():
            if extra.output_name == model:
                return job, extra
        return None

    def create(self, body: object) -> EndpointRecord:
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object")
        model, hardware = body.get("model"), body.get("hardware")
        if not isinstance(model, str) or not model:
            raise bad_request("model is required", param="model")
        if not isinstance(hardware, str) or hardware not in catalog.HARDWARE:
            raise bad_request(
                f"hardware must be one of {', '.join(sorted(catalog.HARDWARE))}, got {hardware!r}",
                param="hardware",
            )
        scaling = body.get("autoscaling")
        if not isinstance(scaling, dict):
            raise bad_request(
                "autoscaling with min_replicas and max_replicas is required", param="autoscaling"
            )
        low, high = scaling.get("min_replicas"), scaling.get("max_replicas")
        if (
            isinstance(low, bool)
            or isinstance(high, bool)
            or not isinstance(low, int)
            or not isinstance(high, int)
            or not 1 <= low <= high <= 16
        ):
            raise bad_request(
                "autoscaling needs integers 1 <= min_replicas <= max_replicas <= 16",
                param="autoscaling",
            )
        if model not in catalog.BASES:
            found = self._fine_tune(model)
            if found is None or self._jobs.status(found[0]) != COMPLETED:
                raise not_found(f"Model {model} not found", param="model")
        display = body.get("display_name")
        if display is not None and not isinstance(display, str):
            raise bad_request("display_name must be a string", param="display_name")
        now = self._core.clock()
        config = self._core.config
        endpoint_id = together_ids.endpoint_id()
        record = EndpointRecord(
            id=endpoint_id,
            name=f"{self._core.settings.organization}/{model.rsplit('/', 1)[-1]}-"
            f"{together_ids.short_hash(endpoint_id)}",
            display_name=display or model,
            model=model,
            hardware=hardware,
            min_replicas=low,
            max_replicas=high,
            created_at=now,
            started_at=now + config.deployment_provisioning_seconds / config.speed,
            stopped=body.get("state") == STOPPED,
        )
        self._store.save_endpoint(record)
        self._store.counters.endpoint_creates += 1
        log.info("together_endpoint_created", endpoint_id=record.id, model=model, hardware=hardware)
        return record

    def get(self, endpoint_id: str) -> EndpointRecord:
        record = self._store.endpoints.get(endpoint_id)
        if record is None:
            raise not_found(f"Endpoint {endpoint_id} not found", param="endpointId")
        return record

    def delete(self, endpoint_id: str) -> None:
        self.get(endpoint_id)
        self._store.remove_endpoint(endpoint_id)
        self._store.counters.endpoint_deletes += 1
        log.info("together_endpoint_deleted", endpoint_id=endpoint_id)

    # -- what chat is served by ---------------------------------------------------------
    def served(self, model: str) -> ServedModel:
        if model in catalog.BASES:
            return ServedModel(model, model, None)
        for record in self._store.endpoints.values():
            if record.name == model:
                state = self.state(record)
                if state != STARTED:
                    raise ApiError(
                        503,
                        f"Endpoint {record.name} is {state}; it serves requests once STARTED.",
                        type="server_error",
                        code="endpoint_not_ready",
                    )
                return self.served_model(record.model, record.name)
        found = self._fine_tune(model)
        if found is None:
            raise ApiError(
                404,
                f"Unable to access model {model}. Please visit https://api.together.ai/models "
                "to view the list of supported models.",
                param="model",
                code="model_not_available",
            )
        job, extra = found
        base = catalog.BASES[job.base_model]
        if (
            self._jobs.status(job) != COMPLETED
            or extra.training_type["type"] == FULL
            or not base.serverless_lora
        ):
            raise not_serverless(model)
        return ServedModel(model, job.base_model, job)

    def served_model(self, model: str, shown_as: str) -> ServedModel:
        if model in catalog.BASES:
            return ServedModel(shown_as, model, None)
        found = self._fine_tune(model)
        assert found is not None
        return ServedModel(shown_as, found[0].base_model, found[0])
