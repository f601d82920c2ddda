"""What the Together flavour keeps beyond the core's records, in the same journal.

Jobs are the core's records (plan, failure, cancel) so the core's clock drives
them; this adds what only Together has (training type and method, checkpoint
and evaluation counts, the learning-rate schedule, the output name), and its
dedicated endpoints, each under its own journal kind so ``--state PATH`` keeps
them across a restart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ftd.emulator.persistence import Journal

JOB_EXTRA = "together_job"
ENDPOINT = "together_endpoint"


@dataclass(slots=True)
class JobExtra:
    job_id: str
    output_name: str
    training_type: dict[str, Any]
    training_method: dict[str, Any]
    n_checkpoints: int
    n_evals: int
    learning_rate: float
    lr_scheduler: dict[str, Any]
    warmup_ratio: float
    batch_size_requested: int | str
    random_seed: int | None
    wandb_project_name: str | None = None
    wandb_name: str | None = None
    train_on_inputs: bool | str = "auto"


@dataclass(slots=True)
class EndpointRecord:
    id: str
    name: str
    display_name: str
    model: str
    hardware: str
    min_replicas: int
    max_replicas: int
    created_at: float
    started_at: float  # STARTED from then on (PENDING, then STARTING, before)
    stopped: bool = False


@dataclass(slots=True)
class Counters:
    """How many creates and deletes arrived, for tests that count side effects."""

    endpoint_creates: int = 0
    endpoint_deletes: int = 0


class TogetherStore:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self.extras = {row["job_id"]: JobExtra(**row) for row in journal.load(JOB_EXTRA)}
        self.endpoints = {row["id"]: EndpointRecord(**row) for row in journal.load(ENDPOINT)}
        self.counters = Counters()

    def save_extra(self, extra: JobExtra) -> None:
        self.extras[extra.job_id] = extra
        self._journal.save(JOB_EXTRA, extra.job_id, dataclasses.asdict(extra))

    def save_endpoint(self, record: EndpointRecord) -> None:
        self.endpoints[record.id] = record
        self._journal.save(ENDPOINT, record.id, dataclasses.asdict(record))

    def remove_endpoint(self, endpoint_id: str) -> None:
        self.endpoints.pop(endpoint_id, None)
        self._journal.delete(ENDPOINT, endpoint_id)
