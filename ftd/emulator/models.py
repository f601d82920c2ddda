"""Which models exist: base snapshots, and the fine-tuned models and checkpoints jobs made.

A model a job just produced stays invisible (404) for ``model_ready_delay``
seconds, because the real service sometimes needs minutes before a new model
serves; clients must cope with that.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftd import catalog
from ftd.emulator import jobview
from ftd.emulator.apierrors import ApiError, model_not_found
from ftd.emulator.jobs import JobService, fine_tunable_bases

if TYPE_CHECKING:
    from collections.abc import Callable

    from ftd.emulator.records import JobRecord

SYSTEM_OWNER = "system"


def _snapshot_created(name: str) -> int:
    """Base models report their snapshot date as their creation time."""
    tail = name.rsplit("-", 3)[-3:]
    try:
        day = dt.date(int(tail[0]), int(tail[1]), int(tail[2]))
    except (ValueError, IndexError):
        day = dt.date(2024, 1, 1)
    return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())


def _base_names() -> dict[str, str]:
    """Every listed base model name, snapshot or family alias, with the snapshot it means."""
    names: dict[str, str] = {}
    for entry in fine_tunable_bases():
        names[entry.name] = entry.name
        if catalog.base_name(entry.family) == entry.name:
            names[entry.family] = entry.name
    return names


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A model that can answer chat completions; ``job`` is set for fine-tuned ones."""

    name: str
    base: str
    job: JobRecord | None


class ModelDirectory:
    def __init__(self, jobs: JobService, *, clock: Callable[[], float] = time.time) -> None:
        self._jobs = jobs
        self._clock = clock
        self._bases = _base_names()
        # Models retired on a test's demand: from then on they answer 404 model_not_found
        # everywhere, as a fine-tune does once its base is shut down.
        self.retired: set[str] = set()

    def retire(self, name: str) -> None:
        self.retired.add(name)

    def _fine_tuned_objects(self) -> list[dict[str, Any]]:
        now = self._clock()
        owner = jobview.organization_id(self._jobs.organization)
        objects = []
        for name, _job, created in self._jobs.made_models(now):
            if self._jobs.find_model(name) is not None:
                objects.append(
                    {"id": name, "object": "model", "created": int(created), "owned_by": owner}
                )
        return objects

    def list(self) -> list[dict[str, Any]]:
        bases = [
            {
                "id": name,
                "object": "model",
                "created": _snapshot_created(snapshot),
                "owned_by": SYSTEM_OWNER,
            }
            for name, snapshot in self._bases.items()
        ]
        return [m for m in bases + self._fine_tuned_objects() if m["id"] not in self.retired]

    def retrieve(self, name: str) -> dict[str, Any]:
        if name in self.retired:
            raise model_not_found(name)
        if name in self._bases:
            snapshot = self._bases[name]
            return {
                "id": name,
                "object": "model",
                "created": _snapshot_created(snapshot),
                "owned_by": SYSTEM_OWNER,
            }
        found = self._jobs.find_model(name)
        if found is None:
            raise model_not_found(name)
        _job, ready = found
        owner = jobview.organization_id(self._jobs.organization)
        return {"id": name, "object": "model", "created": int(ready), "owned_by": owner}

    def delete(self, name: str) -> dict[str, Any]:
        if name in self._bases:
            raise ApiError(
                403,
                f"You do not have permission to delete the model {name}.",
                param="model",
                code="model_not_deletable",
            )
        known = {made for made, _job, _created in self._jobs.made_models(self._clock())}
        if name not in known or name in self._jobs.deleted_models:
            raise model_not_found(name)
        self._jobs.delete_model(name)
        return {"id": name, "object": "model", "deleted": True}

    def served(self, name: str) -> ServedModel:
        """The model behind a chat request; 404 ``model_not_found`` like the real API."""
        if name in self.retired:
            raise model_not_found(name)
        if name in self._bases:
            return ServedModel(name, self._bases[name], None)
        found = self._jobs.find_model(name)
        if found is None:
            raise model_not_found(name)
        job, _ready = found
        return ServedModel(name, job.base_model, job)
