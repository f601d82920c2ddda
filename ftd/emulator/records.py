"""The facts the emulator keeps, as plain records that round-trip through JSON.

A job keeps only what cannot be recomputed: when it was created, its plan,
its failure if one was decided, and when it was paused, resumed or cancelled.
Its status, events, checkpoints and metrics are derived from those and the
clock (see :mod:`ftd.emulator.timeline`), which is why 1,000 idle jobs cost
nothing and a restarted emulator picks every job up where the clock says.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

PAUSE = "pause"
RESUME = "resume"
CANCEL = "cancel"


@dataclass(slots=True)
class FileRecord:
    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    expires_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileRecord:
        return cls(**data)


@dataclass(slots=True)
class PartRecord:
    id: str
    bytes: int
    created_at: int


@dataclass(slots=True)
class UploadRecord:
    id: str
    filename: str
    bytes: int
    purpose: str
    mime_type: str
    created_at: int
    expires_at: int
    status: str = "pending"  # pending | completed | cancelled; "expired" is derived
    parts: list[PartRecord] = field(default_factory=list)
    file_id: str | None = None
    file_expires_after: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UploadRecord:
        parts = [PartRecord(**p) for p in data.pop("parts", [])]
        return cls(**data, parts=parts)


@dataclass(frozen=True, slots=True)
class Plan:
    """How the job will run, fixed at creation; durations are wall seconds after speed-up."""

    n_examples: int
    n_validation_examples: int
    epoch_tokens: int
    n_epochs: int
    batch_size: int
    validate_s: float
    queue_s: float
    step_s: float
    finalize_s: float
    valid_interval: int  # 0 when there is no validation file

    @property
    def total_steps(self) -> int:
        """Batches over every epoch's examples together: a batch may span two epochs.

        A real job of 1,001 examples, batch size 2 and 3 epochs ran 1,502 steps.
        """
        return max(1, -(-(self.n_examples * self.n_epochs) // self.batch_size))

    @property
    def steps_per_epoch(self) -> int:
        """Where epochs are taken to end for checkpoints: total steps over epochs, rounded down."""
        return max(1, self.total_steps // self.n_epochs)

    @property
    def checkpoint_steps(self) -> list[int]:
        """Every epoch end and the final step (the 1,001-example job: 500, 1000, 1500, 1502)."""
        ends = {self.steps_per_epoch * e for e in range(1, self.n_epochs + 1)}
        return sorted(s for s in ends | {self.total_steps} if s <= self.total_steps)


@dataclass(frozen=True, slots=True)
class JobFailure:
    code: str
    message: str
    param: str | None
    at_step: int | None  # None: the job fails when file validation ends


@dataclass(frozen=True, slots=True)
class Control:
    """A pause, resume or cancel: when it happened and how far the job had progressed."""

    kind: str
    wall: float
    active_at: float


@dataclass(slots=True)
class JobRecord:
    id: str
    created_at: float
    model: str
    base_model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    method: str
    requested_hyperparameters: dict[str, Any]
    hyperparameters: dict[str, Any]
    method_extra: dict[str, Any]
    integrations: list[dict[str, Any]]
    plan: Plan
    failure: JobFailure | None = None
    controls: list[Control] = field(default_factory=list)
    result_file_id: str | None = None
    settled: bool = False  # terminal and its side effects (result file) materialised

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        data = dict(data)
        data["plan"] = Plan(**data["plan"])
        failure = data.get("failure")
        data["failure"] = JobFailure(**failure) if failure else None
        data["controls"] = [Control(**c) for c in data.get("controls", [])]
        return cls(**data)
