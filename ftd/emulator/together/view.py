"""Jobs, events and checkpoints as Together shows them (``FinetuneResponse``,
``FinetuneResponseTruncated``, ``FineTuneEvent``, ``FineTuneCheckpoint``).

Events are derived from the timeline like the core's, so they are stable
across restarts and their list only grows; they carry no id (the spec's event
has none) and the list has no paging (``FinetuneListEvents`` is ``data`` only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftd.emulator.records import CANCEL
from ftd.emulator.together.ids import checkpoint_name
from ftd.emulator.together.jobs import (
    CANCEL_GRACE_S,
    COMPLETED,
    FULL,
    TogetherJobs,
    iso,
)

if TYPE_CHECKING:
    from ftd.emulator.core import EmulatorCore
    from ftd.emulator.records import JobRecord
    from ftd.emulator.together.store import JobExtra

_EVENT_DEFAULTS = {
    "param_count": 0,
    "token_count": 0,
    "total_steps": 0,
    "wandb_url": "",
    "step": 0,
    "checkpoint_path": "",
    "model_path": "",
    "training_offset": 0,
    "hash": "",
}


class JobView:
    def __init__(self, core: EmulatorCore, jobs: TogetherJobs) -> None:
        self._core = core
        self._jobs = jobs

    def _updated(self, job: JobRecord) -> float:
        events = self.events(job, self._jobs.get(job.id)[1])
        walls: list[float] = [job.created_at, *(float(e["_wall"]) for e in events)]
        return max(walls)

    def truncated(self, job: JobRecord, extra: JobExtra) -> dict[str, Any]:
        status = self._jobs.status(job)
        completed = status == COMPLETED
        body: dict[str, Any] = {
            "id": job.id,
            "status": status,
            "created_at": iso(job.created_at),
            "updated_at": iso(self._updated(job)),
            "user_id": f"user_{self._core.settings.organization}",
            "owner_address": self._core.settings.organization,
            "total_price": 0,
            "token_count": job.plan.epoch_tokens * job.plan.n_epochs if completed else 0,
            "events": [],
            "training_file": job.training_file,
            "model": job.model,
            "model_output_name": extra.output_name,
            "n_epochs": job.plan.n_epochs,
            "n_evals": extra.n_evals,
            "n_checkpoints": extra.n_checkpoints,
            "batch_size": job.plan.batch_size,
            "training_type": extra.training_type,
            "training_method": extra.training_method,
            "learning_rate": extra.learning_rate,
            "lr_scheduler": extra.lr_scheduler,
            "warmup_ratio": extra.warmup_ratio,
            "random_seed": extra.random_seed,
        }
        started = self._started(job)
        if started is not None:
            body["started_at"] = iso(started)
        if job.validation_file is not None:
            body["validation_file"] = job.validation_file
        if job.suffix is not None:
            body["suffix"] = job.suffix
        if extra.wandb_project_name:
            body["wandb_project_name"] = extra.wandb_project_name
        if extra.wandb_name:
            body["wandb_name"] = extra.wandb_name
        return body

    def full(self, job: JobRecord, extra: JobExtra) -> dict[str, Any]:
        body = self.truncated(job, extra)
        for key in ("user_id", "owner_address", "n_checkpoints", "wandb_name"):
            body.pop(key, None)
        body["n_checkpoints"] = extra.n_checkpoints
        body["batch_size"] = job.plan.batch_size
        body["train_on_inputs"] = extra.train_on_inputs
        body["trainingfile_numlines"] = job.plan.n_examples
        body["epochs_completed"] = min(
            job.plan.n_epochs, self._jobs.trained_steps(job) // job.plan.steps_per_epoch
        )
        body["job_id"] = job.id
        body["queue_depth"] = 0
        record = self._core.state.files.get(job.training_file)
        if record is not None:
            body["trainingfile_size"] = record.bytes
        if self._jobs.status(job) == COMPLETED:
            body["model_output_path"] = f"s3://together-emulator/finetune/{job.id}/final"
        body["events"] = [self._public(e) for e in self.events(job, extra)]
        return body

    def _started(self, job: JobRecord) -> float | None:
        timeline = self._core.jobs.timeline(job)
        if timeline.failed_validation or timeline.active(self._core.clock()) < timeline.queue_end:
            return None
        return timeline.wall(timeline.queue_end)

    @staticmethod
    def _public(event: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in event.items() if not k.startswith("_")}

    # -- events ------------------------------------------------------------------------
    def events(self, job: JobRecord, extra: JobExtra) -> list[dict[str, Any]]:
        """Every event visible now, oldest first; ``_wall`` holds each one's time."""
        now = self._core.clock()
        timeline = self._core.jobs.timeline(job)
        plan = job.plan
        planned: list[tuple[float, str, str, dict[str, Any]]] = [
            (job.created_at, "job_pending", "Fine tune request created", {})
        ]
        if timeline.failed_validation:
            message = job.failure.message if job.failure else "Validation failed"
            planned.append(
                (timeline.wall(timeline.validate_end), "job_error", message, {"level": "error"})
            )
        else:
            queued = timeline.wall(timeline.validate_end)
            started = timeline.wall(timeline.queue_end)
            planned += [
                (queued, "training_data_download_complete", "Training data downloaded", {}),
                (started, "job_start", "Job started", {}),
                (started, "model_download_complete", f"Model {job.model} downloaded", {}),
                (started, "training_start", "Training started", {"total_steps": plan.total_steps}),
            ]
            last = self._jobs.trained_steps(job)
            failure_step = job.failure.at_step if job.failure else None
            for step in self._jobs.checkpoint_steps(job, extra)[:-1]:
                if failure_step is None or step < failure_step:
                    planned.append(
                        (
                            timeline.step_wall(step),
                            "checkpoint_save",
                            f"Checkpoint saved at step {step}",
                            {
                                "step": step,
                                "checkpoint_path": checkpoint_name(extra.output_name, step),
                            },
                        )
                    )
            for epoch in range(1, plan.n_epochs + 1):
                step = min(plan.total_steps, plan.steps_per_epoch * epoch)
                if failure_step is None or step < failure_step:
                    planned.append(
                        (
                            timeline.step_wall(step),
                            "epoch_complete",
                            f"Epoch {epoch}/{plan.n_epochs} completed",
                            {"step": step},
                        )
                    )
            if failure_step is not None:
                message = job.failure.message if job.failure else "Training failed"
                planned.append(
                    (
                        timeline.wall(timeline.terminal_t),
                        "job_error",
                        message,
                        {"level": "error", "step": min(last, failure_step)},
                    )
                )
            else:
                train_end = timeline.wall(timeline.train_end)
                halfway = timeline.wall(timeline.checkpoint_t)
                end = timeline.wall(timeline.end)
                tokens = plan.epoch_tokens * plan.n_epochs
                planned += [
                    (
                        train_end,
                        "training_complete",
                        "Training completed",
                        {"step": plan.total_steps, "token_count": tokens},
                    ),
                    (train_end, "model_compressing", "Compressing output model", {}),
                    (halfway, "model_compression_complete", "Model compression complete", {}),
                    (halfway, "model_uploading", "Uploading output model", {}),
                    (
                        end,
                        "model_upload_complete",
                        "Model upload complete",
                        {"model_path": extra.output_name},
                    ),
                    (
                        end,
                        "job_complete",
                        f"Fine-tuning job completed. Output model: {extra.output_name}",
                        {"model_path": extra.output_name},
                    ),
                ]
        cancel = next((c for c in job.controls if c.kind == CANCEL), None)
        cutoff = now if cancel is None else min(now, cancel.wall)
        shown = [p for p in planned if p[0] <= cutoff]
        if cancel is not None and cancel.wall <= now:
            shown.append((cancel.wall, "cancel_requested", "Cancel requested", {}))
            stopped = cancel.wall + CANCEL_GRACE_S / self._core.config.speed
            if stopped <= now:
                shown.append((stopped, "job_stopped", "Job cancelled", {}))
        shown.sort(key=lambda p: p[0])
        return [self._event(wall, kind, message, fields) for wall, kind, message, fields in shown]

    def _event(
        self, wall: float, kind: str, message: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        level = fields.pop("level", "info")
        return {
            "object": "fine-tune-event",
            "created_at": iso(wall),
            "level": level,
            "message": message,
            "type": kind,
            **_EVENT_DEFAULTS,
            **fields,
            "_wall": wall,
        }

    def public_events(self, job: JobRecord, extra: JobExtra) -> list[dict[str, Any]]:
        return [self._public(e) for e in self.events(job, extra)]

    # -- checkpoints ------------------------------------------------------------------
    def checkpoints(self, job: JobRecord, extra: JobExtra) -> list[dict[str, Any]]:
        """Newest first; the final model's entries once the job completed."""
        timeline = self._core.jobs.timeline(job)
        trained = self._jobs.trained_steps(job)
        status = self._jobs.status(job)
        failure_step = job.failure.at_step if job.failure else None
        steps = self._jobs.checkpoint_steps(job, extra)
        out = [
            {
                "step": step,
                "path": checkpoint_name(extra.output_name, step),
                "created_at": iso(timeline.step_wall(step)),
                "checkpoint_type": "Intermediate",
            }
            for step in steps[:-1]
            if step <= trained and (failure_step is None or step < failure_step)
        ]
        if status == COMPLETED:
            created = iso(timeline.wall(timeline.end))
            kinds = (
                ("Final",)
                if extra.training_type["type"] == FULL
                else ("Final Merged", "Final Adapter")
            )
            out.extend(
                {
                    "step": job.plan.total_steps,
                    "path": extra.output_name,
                    "created_at": created,
                    "checkpoint_type": kind,
                }
                for kind in kinds
            )
        out.reverse()
        return out
