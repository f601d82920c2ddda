"""Filling the report's views from the store: a dataset, its job, the job's training record."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from ftd.errors import FtdError
from ftd.report.fields import Fields
from ftd.report.views import (
    CheckpointMark,
    DatasetView,
    EvaluationView,
    EventView,
    JobView,
    MetricPoint,
    ReportView,
    epoch_ends,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ftd.store import Store
    from ftd.store.rows import DatasetRow

SIDES = ("train", "validation", "test")


class NotInStore(FtdError):
    """The dataset or job a report was asked for is not in the database; says which."""

    def __init__(self, what: str, database: str) -> None:
        super().__init__(f"{what}: not found in {database}")
        self.what = what


async def dataset_view(store: Store, dataset_id: int) -> DatasetView:
    row = await store.dataset(dataset_id)
    if row is None:
        raise NotInStore(f"dataset {dataset_id}", store.path)
    splits = await store.splits(dataset_id)
    return DatasetView.from_report(
        row.report,
        name=row.name,
        state=row.state,
        dataset_id=row.id,
        splits=[(side, splits[side].examples) for side in SIDES if side in splits],
    )


async def job_view(store: Store, job_id: str) -> JobView:
    row = await store.job(job_id)
    if row is None:
        raise NotInStore(f"job {job_id}", store.path)
    dataset = await store.dataset(row.dataset_id) if row.dataset_id is not None else None
    metrics = tuple(_metric(m) for m in await store.job_metrics(job_id))
    events = await store.job_events(job_id)
    checkpoints = await store.job_checkpoints(job_id)
    error = None
    if row.error_code or row.error_message:
        error = ": ".join(part for part in (row.error_code, row.error_message) if part)
    return JobView(
        job_id=row.job_id,
        status=row.status,
        model=row.model,
        fine_tuned_model=row.fine_tuned_model,
        created_at=row.created_at,
        finished_at=row.finished_at,
        metrics=metrics,
        epoch_ends=epoch_ends(metrics, _n_epochs(dataset), _total_steps(events)),
        checkpoints=tuple(CheckpointMark(int(c["step"]), str(c["model"])) for c in checkpoints),
        trained_tokens=row.trained_tokens,
        estimated_cost_usd=dataset.estimated_cost_usd if dataset is not None else None,
        cost_usd=row.cost_usd,
        error=error,
        events=tuple(
            EventView(float(e["created_at"]), str(e["level"]), str(e["message"]), e["type"])
            for e in events
        ),
    )


async def report_view(
    store: Store,
    *,
    dataset_id: int | None = None,
    job_id: str | None = None,
    evaluation: EvaluationView | None = None,
    clock: Callable[[], float] = time.time,
) -> ReportView:
    """A dataset's whole report (its job too, if it has one), or a job's (its dataset too)."""
    if job_id is None and dataset_id is None:
        raise ValueError("a report needs a dataset id or a job id")
    if job_id is None:
        rows = await store.read("SELECT job_id FROM jobs WHERE dataset_id = ?", (dataset_id,))
        job_id = rows[0]["job_id"] if rows else None
    job = await job_view(store, job_id) if job_id is not None else None
    if dataset_id is None and job_id is not None:
        found = await store.job(job_id)
        dataset_id = found.dataset_id if found is not None else None
    dataset = await dataset_view(store, dataset_id) if dataset_id is not None else None
    title = dataset.name if dataset is not None else job.job_id if job is not None else "report"
    return ReportView(
        title=f"ftd report: {title}",
        generated_at=clock(),
        dataset=dataset,
        job=job,
        evaluation=evaluation,
    )


def _metric(row: dict[str, Any]) -> MetricPoint:
    return MetricPoint(
        step=int(row["step"]),
        train_loss=row["train_loss"],
        train_accuracy=row["train_accuracy"],
        valid_loss=row["valid_loss"],
        valid_accuracy=row["valid_accuracy"],
        full_valid_loss=row["full_valid_loss"],
        full_valid_accuracy=row["full_valid_accuracy"],
    )


def _n_epochs(dataset: DatasetRow | None) -> int | None:
    """Epochs as configured for the dataset, else as the validator estimated them."""
    if dataset is None:
        return None
    if dataset.settings is not None:
        hyper = Fields(dataset.settings, f"dataset {dataset.id} settings").child("hyperparameters")
        if hyper is not None and isinstance(hyper.data.get("n_epochs"), int):
            return hyper.integer("n_epochs")
    if dataset.report is not None:
        estimate = Fields(dataset.report, f"dataset {dataset.id} report").child("estimate")
        if estimate is not None:
            return estimate.integer("n_epochs")
    return None


def _total_steps(events: list[dict[str, Any]]) -> int | None:
    """The run's planned step count, which every metrics event carries."""
    for event in reversed(events):
        if event["type"] != "metrics" or not event["data"]:
            continue
        data = json.loads(event["data"]) if isinstance(event["data"], str) else event["data"]
        total = data.get("total_steps") if isinstance(data, dict) else None
        if isinstance(total, int):
            return total
    return None
