"""How a job, its events and its checkpoints look on the wire at a given moment.

Shapes follow the real service rather than the letter of the spec where the
two differ (``error: {}`` on healthy jobs, ``paused``, ``user_provided_suffix``),
as public notebooks printed them (tests/emulator/test_real_shapes.py names
each source): ``estimated_finish`` stays null,
``hyperparameters`` read "auto" only in the create answer and on a job that
failed validation, and are null at the top level of a DPO job, "Fine-tuning job
started" carries ``data: null``, checkpoints have their own model names.
"""

from __future__ import annotations

from typing import Any

from ftd import catalog
from ftd.emulator import ids, metrics
from ftd.emulator.records import CANCEL, PAUSE, RESUME, JobRecord
from ftd.emulator.timeline import (
    CHECKPOINT,
    CREATED,
    FAILED,
    MODEL_CREATED,
    STARTED,
    STEP,
    SUCCEEDED,
    VALIDATED,
    VALIDATING,
    Entry,
    Timeline,
)


def organization_id(organization: str) -> str:
    return f"org-{organization}"


def model_name(job: JobRecord, organization: str) -> str:
    """``ft:<base>:<org>:<suffix>:<id>``, the suffix field empty when none was given."""
    return f"ft:{job.base_model}:{organization}:{job.suffix or ''}:{ids.model_short_id(job.id)}"


def checkpoint_name(job: JobRecord, organization: str, step: int) -> str:
    """The final checkpoint is the model itself; earlier ones are snapshots of their own.

    Real ones: ``ft:gpt-4o-mini-2024-07-18:openai-gtm:recipe-ner:9o1eNlSa:ckpt-step-101``
    for a job whose model ends ``:9o1eNNKO``.
    """
    if step == job.plan.total_steps:
        return model_name(job, organization)
    short = ids.checkpoint_short_id(job.id, step)
    return f"ft:{job.base_model}:{organization}:{job.suffix or ''}:{short}:ckpt-step-{step}"


def method_object(job: JobRecord, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = dict(job.method_extra)
    settings["hyperparameters"] = hyperparameters
    return {"type": job.method, job.method: settings}


def render_job(
    job: JobRecord, timeline: Timeline, now: float, organization: str, *, created: bool = False
) -> dict[str, Any]:
    """The job object; ``created`` for the answer to the create request itself."""
    status = timeline.status(now)
    failed_validation = status == FAILED and job.failure is not None and job.failure.at_step is None
    hyperparameters = (
        job.requested_hyperparameters if created or failed_validation else job.hyperparameters
    )
    finished = timeline.finished_at(now)
    error: dict[str, Any] = {}
    if status == FAILED and job.failure is not None:
        error = {
            "code": job.failure.code,
            "message": job.failure.message,
            "param": job.failure.param,
        }
    succeeded = status == SUCCEEDED
    return {
        "id": job.id,
        "object": "fine_tuning.job",
        "created_at": int(job.created_at),
        "error": error,
        "fine_tuned_model": model_name(job, organization) if succeeded else None,
        "finished_at": None if finished is None else int(finished),
        "hyperparameters": None
        if job.method == catalog.DPO
        else {
            key: hyperparameters[key]
            for key in ("batch_size", "learning_rate_multiplier", "n_epochs")
        },
        "model": job.model,
        "organization_id": organization_id(organization),
        "result_files": [job.result_file_id] if succeeded and job.result_file_id else [],
        "seed": job.seed,
        "status": status,
        "trained_tokens": job.plan.epoch_tokens * job.plan.n_epochs if succeeded else None,
        "training_file": job.training_file,
        "validation_file": job.validation_file,
        "estimated_finish": None,
        "integrations": job.integrations,
        "metadata": job.metadata,
        "method": method_object(job, hyperparameters),
        "user_provided_suffix": job.suffix,
        "usage_metrics": None,
        "shared_with_openai": False,
    }


def _event_text(job: JobRecord, entry: Entry, organization: str) -> tuple[str, str]:
    """The level and message of one event, worded like the real service's."""
    if entry.kind == CREATED:
        return "info", f"Created fine-tuning job: {job.id}"
    if entry.kind == VALIDATING:
        text = f"Validating training file: {job.training_file}"
        if job.validation_file:
            text += f" and validation file: {job.validation_file}"
        return "info", text
    if entry.kind == VALIDATED:
        return "info", "Files validated, moving job to queued state"
    if entry.kind == STARTED:
        return "info", "Fine-tuning job started"
    if entry.kind == CHECKPOINT:
        name = checkpoint_name(job, organization, entry.step)
        return "info", f"Checkpoint created at step {entry.step} with Snapshot ID: {name}"
    if entry.kind == MODEL_CREATED:
        return "info", f"New fine-tuned model created: {model_name(job, organization)}"
    if entry.kind == SUCCEEDED:
        return "info", "The job has successfully completed"
    if entry.kind == FAILED:
        message = job.failure.message if job.failure else "The job failed."
        return "error", message
    if entry.kind == PAUSE:
        return "info", "Fine-tuning job paused"
    if entry.kind == RESUME:
        return "info", "Fine-tuning job resumed"
    if entry.kind == CANCEL:
        return "info", "Fine-tuning job cancelled"
    raise ValueError(f"unknown event kind {entry.kind!r}")


def render_event(job: JobRecord, entry: Entry, organization: str) -> dict[str, Any]:
    data: dict[str, Any] | None
    if entry.kind == STEP:
        figures = metrics.step_metrics(job.plan, job.method, job.seed, entry.step)
        data = dict(figures)
        level, message, kind = "info", metrics.step_message(figures), "metrics"
    else:
        level, message = _event_text(job, entry, organization)
        data, kind = (None if entry.kind == STARTED else {}), "message"
    return {
        "id": ids.event_id(job.id, entry.seq),
        "object": "fine_tuning.job.event",
        "created_at": int(entry.wall),
        "level": level,
        "message": message,
        "type": kind,
        "data": data,
    }


def render_checkpoint(
    job: JobRecord, timeline: Timeline, step: int, organization: str
) -> dict[str, Any]:
    return {
        "id": ids.checkpoint_id(job.id, step),
        "object": "fine_tuning.job.checkpoint",
        "created_at": int(timeline.step_wall(step)),
        "fine_tuned_model_checkpoint": checkpoint_name(job, organization, step),
        "fine_tuning_job_id": job.id,
        "step_number": step,
        "metrics": metrics.checkpoint_metrics(job.plan, job.method, job.seed, step),
    }
