"""Fine-tuning jobs as Azure shows them, on top of the core's jobs and timelines.

The core decides everything a job does (plan, progress, failures, result
file); this layer adds Azure's rules and words: the training tier, the 40-
character suffix, pause only after a trained step, the service's own pauses of
developer-tier jobs, Azure's ids, status words, event levels and texts.

Relaxation (named here and in the report): ``trainingType`` is accepted on
create although neither the v1 spec's ``OpenAI.CreateFineTuningJobRequest``
nor the authoring ``FineTuningJobCreation`` declares it; it is documented in
Azure's REST how-to for fine-tuning. It is echoed on the v1 job object, whose
schema does not forbid additional properties, and on the authoring one, whose
Swagger ``FineTuningJob`` does not forbid them either.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ftd.emulator import ids, metrics
from ftd.emulator.apierrors import bad_request
from ftd.emulator.azure import ids as azure_ids
from ftd.emulator.azure.errors import AUTHORING
from ftd.emulator.azure.store import AzureStore, JobExtra
from ftd.emulator.records import CANCEL, PAUSE, RESUME, Control, JobRecord
from ftd.emulator.timeline import (
    CHECKPOINT,
    CREATED,
    FAILED,
    MODEL_CREATED,
    PAUSED,
    QUEUED,
    RUNNING,
    STARTED,
    STEP,
    SUCCEEDED,
    VALIDATED,
    VALIDATING,
    VALIDATING_FILES,
    Entry,
    Timeline,
)
from ftd.logs import get_logger

if TYPE_CHECKING:
    from ftd.emulator.core import EmulatorCore

log = get_logger(__name__)

TRAINING_TYPE_FIELD = "trainingType"
GLOBAL_STANDARD = "globalStandard"
STANDARD = "standard"
DEVELOPER_TIER = "developerTier"
TRAINING_TYPES = (GLOBAL_STANDARD, STANDARD, DEVELOPER_TIER)
# Both specs: "up to 40 characters (a-z, A-Z, 0-9, - and _)" (FineTuningJobCreation/suffix).
MAX_SUFFIX = 40
_SUFFIX = re.compile(r"^[A-Za-z0-9_-]+$")
# The authoring spec's FineTuningState has no validating_files or queued; both are "pending".
_AUTHORING_STATUS = {VALIDATING_FILES: "pending", QUEUED: "pending"}
SERVICE_PAUSE_MESSAGE = (
    "Job paused by the service: developer-tier training runs on spare capacity and "
    "resumes automatically."
)


def trained_steps(job: JobRecord, timeline: Timeline, now: float) -> int:
    """How many training steps the job has completed by now."""
    if job.plan.step_s <= 0:
        return job.plan.total_steps
    done = int((timeline.active(now) - timeline.queue_end) / job.plan.step_s)
    return max(0, min(job.plan.total_steps, done))


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


class AzureJobs:
    def __init__(self, core: EmulatorCore, store: AzureStore) -> None:
        self._core = core
        self._store = store

    # -- create ------------------------------------------------------------------
    async def create(self, body: dict[str, Any]) -> JobRecord:
        body = dict(body)
        training_type = body.pop(TRAINING_TYPE_FIELD, None)
        if training_type is not None and training_type not in TRAINING_TYPES:
            raise bad_request(
                f"trainingType must be one of {', '.join(TRAINING_TYPES)}, got {training_type!r}",
                param=TRAINING_TYPE_FIELD,
            )
        suffix = body.get("suffix")
        if isinstance(suffix, str) and len(suffix) > MAX_SUFFIX:
            raise bad_request(
                f"suffix is {len(suffix)} characters; at most {MAX_SUFFIX} are allowed",
                param="suffix",
            )
        if isinstance(suffix, str) and suffix and not _SUFFIX.match(suffix):
            raise bad_request(
                "suffix may contain only letters, digits, '-' and '_'", param="suffix"
            )
        job = await self._core.jobs.create(body)
        self._store.save_extra(JobExtra(job.id, training_type))
        log.info("azure_job_created", job_id=job.id, training_type=training_type)
        return job

    def training_type(self, job: JobRecord) -> str | None:
        extra = self._store.extras.get(job.id)
        return None if extra is None else extra.training_type

    # -- the service's own pauses of developer-tier jobs ----------------------------
    def touch(self, job: JobRecord) -> None:
        """Apply the pause and resume the service makes to a developer-tier job."""
        config = self._core.config
        extra = self._store.extras.get(job.id)
        if extra is None or extra.training_type != DEVELOPER_TIER or extra.service_resumed:
            return
        now = self._core.clock()
        timeline = self._core.jobs.timeline(job)
        status = timeline.status(now)
        if extra.service_pause_at is None:
            # Only new pauses wait on the knob: one already made is always resumed.
            if not config.developer_tier_pause_seconds:
                return
            if status == RUNNING and not job.controls and trained_steps(job, timeline, now) >= 1:
                self._core.jobs.control(job.id, PAUSE)
                extra.service_pause_at = now
                self._store.save_extra(extra)
                log.info("azure_service_paused", job_id=job.id)
            return
        resume_at = extra.service_pause_at + config.developer_tier_pause_seconds / config.speed
        last = job.controls[-1] if job.controls else None
        ours = last is not None and last.kind == PAUSE and last.wall == extra.service_pause_at
        if status != PAUSED or last is None or not ours:
            return  # the client resumed or cancelled it meanwhile
        if now >= resume_at:
            job.controls.append(Control(RESUME, resume_at, last.active_at))
            self._core.state.save_job(job)
            extra.service_resumed = True
            self._store.save_extra(extra)
            log.info("azure_service_resumed", job_id=job.id)

    def get(self, job_id: str) -> JobRecord:
        """A job brought up to date: the service's pauses applied, its result file made."""
        job = self._core.jobs.get(job_id)
        self.touch(job)
        self._core.jobs.settle_all()
        return job

    def touch_all(self) -> None:
        for job in list(self._core.state.jobs.values()):
            self.touch(job)
        self._core.jobs.settle_all()

    # -- control -------------------------------------------------------------------
    def control(self, job_id: str, kind: str) -> JobRecord:
        job = self.get(job_id)
        if kind == PAUSE:
            now = self._core.clock()
            timeline = self._core.jobs.timeline(job)
            status = timeline.status(now)
            if status != RUNNING:
                raise bad_request(
                    f"Job {job_id} is {status}; only a running job can be paused.",
                    param="fine_tuning_job_id",
                    code="invalid_job_state",
                )
            if trained_steps(job, timeline, now) < 1:
                raise bad_request(
                    f"Job {job_id} has not completed a training step yet; a job can be "
                    "paused only after it has trained at least one step.",
                    param="fine_tuning_job_id",
                    code="invalid_job_state",
                )
        return self._core.jobs.control(job_id, kind)

    # -- rendering -------------------------------------------------------------------
    def render(self, job: JobRecord, shape: str) -> dict[str, Any]:
        """The job on the wire; ``get`` or ``touch_all`` first, so its result file exists."""
        jobs = self._core.jobs
        now = self._core.clock()
        timeline = jobs.timeline(job)
        status = timeline.status(now)
        hyperparameters = (
            job.requested_hyperparameters
            if status == VALIDATING_FILES
            or (status == FAILED and job.failure and job.failure.at_step is None)
            else job.hyperparameters
        )
        finished = timeline.finished_at(now)
        estimated = timeline.estimated_finish(now)
        error = None
        if status == FAILED and job.failure is not None:
            error = {
                "code": job.failure.code,
                "message": job.failure.message,
                "param": job.failure.param,
            }
        succeeded = status == SUCCEEDED
        settings: dict[str, Any] = dict(job.method_extra)
        settings["hyperparameters"] = hyperparameters
        chosen = {
            key: hyperparameters[key]
            for key in ("batch_size", "learning_rate_multiplier", "n_epochs")
            if key in hyperparameters
        }
        body: dict[str, Any] = {
            "id": job.id,
            "object": "fine_tuning.job",
            "created_at": int(job.created_at),
            "error": error,
            "fine_tuned_model": azure_ids.model_name(job) if succeeded else None,
            "finished_at": None if finished is None else int(finished),
            "hyperparameters": chosen,
            "model": job.model,
            "result_files": [job.result_file_id] if succeeded and job.result_file_id else [],
            "seed": job.seed,
            "status": status,
            "trained_tokens": job.plan.epoch_tokens * job.plan.n_epochs if succeeded else None,
            "training_file": job.training_file,
            "validation_file": job.validation_file,
            "estimated_finish": None if estimated is None else int(estimated),
            "integrations": job.integrations,
            "method": {"type": job.method, job.method: settings},
            TRAINING_TYPE_FIELD: self.training_type(job),
        }
        if shape != AUTHORING:
            body["organization_id"] = f"org-{self._core.settings.organization}"
            body["metadata"] = job.metadata
            body["user_provided_suffix"] = job.suffix
            return body
        # Swagger 2.0 has no null: absent fields are left out, "auto" is not an integer.
        body["status"] = _AUTHORING_STATUS.get(status, status)
        body["suffix"] = job.suffix
        body["hyperparameters"] = {k: v for k, v in chosen.items() if v != "auto"}
        body["method"] = {"type": job.method}
        if job.method == "supervised":
            body["method"]["supervised"] = {"hyperparameters": body["hyperparameters"]}
        return _drop_none(body)

    # -- events and checkpoints ------------------------------------------------------
    def _event_text(self, job: JobRecord, entry: Entry) -> tuple[str, str]:
        if entry.kind == CREATED:
            return "info", f"Created fine-tuning job: {job.id}"
        if entry.kind == VALIDATING:
            return "info", f"Validating training file: {job.training_file}"
        if entry.kind == VALIDATED:
            return "info", "Job enqueued. Waiting for jobs ahead to complete."
        if entry.kind == STARTED:
            return "info", "Job started."
        if entry.kind == CHECKPOINT:
            return "info", f"Checkpoint created at step {entry.step}."
        if entry.kind == MODEL_CREATED:
            return "info", f"Model created: {azure_ids.model_name(job)}"
        if entry.kind == SUCCEEDED:
            return "info", "Job succeeded."
        if entry.kind == FAILED:
            return "error", job.failure.message if job.failure else "Job failed."
        extra = self._store.extras.get(job.id)
        service = extra is not None and extra.service_pause_at == entry.wall
        if entry.kind == PAUSE:
            return ("warning", SERVICE_PAUSE_MESSAGE) if service else ("info", "Job paused.")
        if entry.kind == RESUME:
            return "info", "Job resumed."
        if entry.kind == CANCEL:
            return "info", "Job cancelled."
        raise ValueError(f"unknown event kind {entry.kind!r}")

    def _render_event(self, job: JobRecord, entry: Entry, shape: str) -> dict[str, Any]:
        if entry.kind == STEP:
            data: dict[str, Any] = dict(
                metrics.step_metrics(job.plan, job.method, job.seed, entry.step)
            )
            level, message, kind = "info", metrics.step_message(data), "metrics"
        else:
            level, message = self._event_text(job, entry)
            data, kind = {}, "message"
        if level == "warning" and shape != AUTHORING:
            level = "warn"  # v1: OpenAI.FineTuningJobEvent/level/enum is info|warn|error
        return {
            "id": ids.event_id(job.id, entry.seq),
            "object": "fine_tuning.job.event",
            "created_at": int(entry.wall),
            "level": level,
            "message": message,
            "type": kind,
            "data": data,
        }

    def events(
        self, job_id: str, after: str | None, limit: int, shape: str
    ) -> tuple[list[dict[str, Any]], bool]:
        job = self.get(job_id)
        timeline = self._core.jobs.timeline(job)
        start = timeline.visible_count(self._core.clock()) - 1
        if after is not None:
            seq = ids.event_seq(job.id, after)
            if seq is None:
                raise bad_request(f"'{after}' is not an event of job {job_id}", param="after")
            start = min(start, seq - 1)
        stop = max(-1, start - limit)
        page = [
            self._render_event(job, timeline.entry(seq), shape) for seq in range(start, stop, -1)
        ]
        return page, stop >= 0

    def checkpoints(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        job = self.get(job_id)
        timeline = self._core.jobs.timeline(job)
        if not timeline.checkpoints_visible(self._core.clock()):
            return [], False
        steps = sorted(timeline.kept_steps, reverse=True)
        if after is not None:
            step = azure_ids.checkpoint_step(job, after)
            if step is None:
                raise bad_request(f"'{after}' is not a checkpoint of job {job_id}", param="after")
            steps = [s for s in steps if s < step]
        page = [
            {
                "id": azure_ids.checkpoint_id(job, step),
                "object": "fine_tuning.job.checkpoint",
                "created_at": int(timeline.step_wall(step)),
                "fine_tuned_model_checkpoint": azure_ids.checkpoint_model(job, step),
                "fine_tuning_job_id": job.id,
                "step_number": step,
                "metrics": metrics.checkpoint_metrics(job.plan, job.method, job.seed, step),
            }
            for step in steps[:limit]
        ]
        return page, len(steps) > limit

    # -- the models jobs made ----------------------------------------------------------
    def made_models(self) -> list[tuple[str, JobRecord, float]]:
        """(name, job, created) of every fine-tuned model and kept checkpoint there is now."""
        now = self._core.clock()
        made = []
        for job in self._core.state.jobs.values():
            made.extend(self._made_by(job, now))
        return made

    def _made_by(self, job: JobRecord, now: float) -> list[tuple[str, JobRecord, float]]:
        timeline = self._core.jobs.timeline(job)
        if not timeline.checkpoints_visible(now):
            return []
        made = [
            (azure_ids.checkpoint_model(job, step), job, timeline.step_wall(step))
            for step in timeline.kept_steps[:-1]
        ]
        if timeline.status(now) == SUCCEEDED:
            made.append((azure_ids.model_name(job), job, timeline.finished_at(now) or now))
        return made

    def find_model(self, name: str) -> tuple[JobRecord, float] | None:
        """The job behind a fine-tuned model or checkpoint name, and when it appeared."""
        found = azure_ids.job_of_model(name)
        if found is None:
            return None
        job = self._core.state.jobs.get(found[0])
        if job is None:
            return None
        for made, owner, created in self._made_by(job, self._core.clock()):
            if made == name:
                return owner, created
        return None
