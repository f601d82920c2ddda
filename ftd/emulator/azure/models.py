"""Azure's model catalogue: base models with retirement dates, and the models jobs made.

Retirement dates (issue 16, from Azure's model-retirement schedule): training
of the 4o family ends 2027-04-01 and of the 4.1 family 2027-04-14; deployed
fine-tunes are served until 2027-10, given by month only, so the first of the
month is used. o4-mini has no published date here and takes the 4.1 family's.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ftd.emulator.apierrors import not_found
from ftd.emulator.azure.errors import AUTHORING
from ftd.emulator.jobs import fine_tunable_bases
from ftd.emulator.models import ModelDirectory, ServedModel

if TYPE_CHECKING:
    from ftd import catalog
    from ftd.emulator.azure.jobs import AzureJobs
    from ftd.emulator.core import EmulatorCore
    from ftd.emulator.records import JobRecord

_4O = (dt.date(2027, 4, 1), dt.date(2027, 10, 1))
_41 = (dt.date(2027, 4, 14), dt.date(2027, 10, 1))
RETIREMENT: dict[str, tuple[dt.date, dt.date]] = {
    "gpt-4o": _4O,
    "gpt-4o-mini": _4O,
    "gpt-4.1": _41,
    "gpt-4.1-mini": _41,
    "gpt-4.1-nano": _41,
    "o4-mini": _41,
}
OWNER = "system"
LIFECYCLE = "generally-available"


def _unix(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())


def _iso(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _version(entry: catalog.BaseModel) -> str:
    """ARM names a base by family and version: ``gpt-4.1`` + ``2025-04-14``."""
    return entry.name.removeprefix(entry.family + "-")


def _created(entry: catalog.BaseModel) -> int:
    try:
        return _unix(dt.date.fromisoformat(_version(entry)))
    except ValueError:
        return _unix(dt.date(2024, 1, 1))


def bases() -> dict[str, catalog.BaseModel]:
    return {entry.name: entry for entry in fine_tunable_bases() if entry.family in RETIREMENT}


def resolve_base(name: str, version: str | None) -> str | None:
    """The snapshot an ARM ``model {name, version}`` means, if it is a known base."""
    known = bases()
    if name in known and version in (None, "", _version(known[name]), "1"):
        return name
    for entry in known.values():
        if entry.family == name and version in (None, "", _version(entry)):
            return entry.name
    return None


class AzureModels(ModelDirectory):
    """Data-plane model objects, and the model a deployment serves chat from."""

    def __init__(self, core: EmulatorCore, jobs: AzureJobs) -> None:
        super().__init__(core.jobs, clock=core.clock)
        self._core = core
        self._azure_jobs = jobs
        self.retired = core.models.retired  # one set: /_emulator/retire reaches both flavours

    def _shutdown(self, published: dt.date) -> dt.date:
        """The inference deprecation date shown: the published one, unless the
        ``shutdown_in_days`` knob brings it within that many days of the clock."""
        days = self._core.config.shutdown_in_days
        if days is None:
            return published
        now = dt.datetime.fromtimestamp(self._core.clock(), dt.UTC)
        return (now + dt.timedelta(days=days)).date()

    def _base_object(self, entry: catalog.BaseModel, shape: str) -> dict[str, Any]:
        fine_tune, published = RETIREMENT[entry.family]
        inference = self._shutdown(published)
        body: dict[str, Any] = {
            "id": entry.name,
            "object": "model",
            "capabilities": {
                "fine_tune": True,
                "inference": True,
                "completion": False,
                "chat_completion": True,
                "embeddings": False,
            },
            "lifecycle_status": LIFECYCLE,
            "deprecation": {"fine_tune": _unix(fine_tune), "inference": _unix(inference)},
        }
        if shape == AUTHORING:
            body["created_at"] = _created(entry)
        else:
            body["created"] = _created(entry)
            body["owned_by"] = OWNER
        return body

    def _made_object(self, name: str, job: JobRecord, created: float, shape: str) -> dict[str, Any]:
        entry = bases().get(job.base_model)
        inference = self._shutdown(RETIREMENT[entry.family][1] if entry is not None else _41[1])
        body: dict[str, Any] = {
            "id": name,
            "object": "model",
            "capabilities": {
                "fine_tune": False,
                "inference": True,
                "completion": False,
                "chat_completion": True,
                "embeddings": False,
            },
            "lifecycle_status": LIFECYCLE,
            # Authoring Deprecation/fine_tune: "Will be `null` for fine tune models".
            "deprecation": {"inference": _unix(inference)},
        }
        if shape == AUTHORING:
            body.update(
                created_at=int(created), status="succeeded", model=job.base_model, fine_tune=job.id
            )
        else:
            body.update(created=int(created), owned_by=f"org-{self._core.settings.organization}")
        return body

    def list_objects(self, shape: str) -> list[dict[str, Any]]:
        objects = [self._base_object(entry, shape) for entry in bases().values()]
        objects += [
            self._made_object(name, job, created, shape)
            for name, job, created in self._azure_jobs.made_models()
        ]
        return objects

    def retrieve_object(self, name: str, shape: str) -> dict[str, Any]:
        known = bases()
        if name in known:
            return self._base_object(known[name], shape)
        found = self._azure_jobs.find_model(name)
        if found is None:
            raise not_found(f"The model '{name}' does not exist.", param="model")
        job, created = found
        return self._made_object(name, job, created, shape)

    def arm_objects(self) -> list[dict[str, Any]]:
        """Accounts_ListModels entries (cognitiveservices.json /definitions/AccountModel)."""
        objects: list[dict[str, Any]] = []
        for entry in bases().values():
            fine_tune, published = RETIREMENT[entry.family]
            inference = self._shutdown(published)
            objects.append(
                {
                    "format": "OpenAI",
                    "name": entry.family,
                    "version": _version(entry),
                    "isDefaultVersion": True,
                    "lifecycleStatus": "GenerallyAvailable",
                    "capabilities": {"chatCompletion": "true", "fineTune": "true"},
                    "deprecation": {"fineTune": _iso(fine_tune), "inference": _iso(inference)},
                    "skus": [
                        {"name": sku, "usageName": f"OpenAI.{sku}.{entry.family}"}
                        for sku in ("Standard", "GlobalStandard", "DeveloperTier")
                    ],
                }
            )
        for name, job, _created in self._azure_jobs.made_models():
            base = bases().get(job.base_model)
            inference = self._shutdown(RETIREMENT[base.family][1] if base is not None else _41[1])
            objects.append(
                {
                    "format": "OpenAI",
                    "name": name,
                    "version": "1",
                    "lifecycleStatus": "GenerallyAvailable",
                    "capabilities": {"chatCompletion": "true"},
                    "deprecation": {"inference": _iso(inference)},
                }
            )
        return objects

    def served(self, name: str) -> ServedModel:
        """The model behind a ready deployment (its model name, resolved at PUT)."""
        if name in self.retired:
            raise not_found(f"The model '{name}' does not exist.", param="model")
        if name in bases():
            return ServedModel(name, name, None)
        found = self._azure_jobs.find_model(name)
        if found is None:
            raise not_found(f"The model '{name}' does not exist.", param="model")
        job, _created = found
        return ServedModel(name, job.base_model, job)
