"""Fine-tuning jobs: creation with the real service's checks and refusals, then control.

Nothing runs in the background. A job's progress is read off its timeline
whenever a request touches it; the one side effect of progress (the result
file of a succeeded job) is materialised the first time anyone looks.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from ftd import catalog
from ftd.emulator import ids, jobview, metrics
from ftd.emulator.apierrors import ApiError, bad_request, missing_object
from ftd.emulator.datasets import DatasetCache
from ftd.emulator.jobspec import JobRequest, parse_job_request, resolve_hyperparameters
from ftd.emulator.planning import make_plan
from ftd.emulator.records import (
    CANCEL,
    PAUSE,
    RESUME,
    Control,
    FileRecord,
    JobFailure,
    JobRecord,
)
from ftd.emulator.timeline import PAUSED, SUCCEEDED, TERMINAL, Timeline
from ftd.emulator.trainingdata import DatasetProblem
from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ftd.emulator.settings import RuntimeConfig
    from ftd.emulator.state import EmulatorState

log = get_logger(__name__)

DAY_S = 86_400
TRAINING_NOT_AVAILABLE = (
    "OpenAI is winding down the fine-tuning platform and your organization is no longer "
    "able to create new fine-tuning training jobs."
)
RESULT_FILENAME = "step_metrics.csv"


def fine_tunable_bases() -> list[catalog.BaseModel]:
    """Every model ``ftd validate`` knows, legacy ones included: most real jobs trained
    gpt-3.5-turbo-0125 or -0613."""
    return list(catalog.BASE_MODELS)


class JobService:
    # The result file's header: OpenAI's; a flavour of another provider sets its own
    # (metrics.AZURE_RESULT_COLUMNS for Azure OpenAI).
    result_columns: tuple[str, ...] = metrics.OPENAI_RESULT_COLUMNS

    def __init__(
        self,
        state: EmulatorState,
        config: RuntimeConfig,
        organization: str,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        id_format: ids.IdFormat | None = None,
    ) -> None:
        self._ids = id_format or ids.IdFormat()
        self._state = state
        self._config = config
        self.organization = organization
        self._clock = clock
        self._rng = rng or random.Random()
        self.datasets = DatasetCache(state)
        self._timelines: dict[str, tuple[int, Timeline]] = {}
        self._unsettled = {job.id for job in state.jobs.values() if not job.settled}
        self._by_short: dict[str, list[str]] = {}
        for job in state.jobs.values():
            self._index_names(job)

    def _index_names(self, job: JobRecord) -> None:
        """Remember the short ids of the model and checkpoints a job will make."""
        shorts = {ids.model_short_id(job.id)}
        shorts.update(ids.checkpoint_short_id(job.id, s) for s in job.plan.checkpoint_steps)
        for short in shorts:
            self._by_short.setdefault(short, []).append(job.id)

    # -- lookups ---------------------------------------------------------------------
    def timeline(self, job: JobRecord) -> Timeline:
        cached = self._timelines.get(job.id)
        if cached is not None and cached[0] == len(job.controls):
            return cached[1]
        built = Timeline(job)
        self._timelines[job.id] = (len(job.controls), built)
        return built

    def get(self, job_id: str) -> JobRecord:
        job = self._state.jobs.get(job_id)
        if job is None:
            raise missing_object("fine-tuning job", job_id, param="fine_tuning_job_id")
        return job

    def view(self, job: JobRecord, *, created: bool = False) -> dict[str, Any]:
        now = self._clock()
        self._settle(job, now)
        return jobview.render_job(job, self.timeline(job), now, self.organization, created=created)

    def status(self, job: JobRecord) -> str:
        return self.timeline(job).status(self._clock())

    def settle_all(self) -> None:
        """Materialise what jobs that finished since the last look left behind."""
        now = self._clock()
        for job_id in list(self._unsettled):
            self._settle(self._state.jobs[job_id], now)

    def _settle(self, job: JobRecord, now: float) -> None:
        if job.settled:
            return
        timeline = self.timeline(job)
        status = timeline.status(now)
        if status not in TERMINAL:
            return
        if status == SUCCEEDED:
            content = metrics.result_csv(
                job.plan, job.method, job.seed, job.plan.total_steps, self.result_columns
            )
            finished = timeline.finished_at(now) or now
            record = FileRecord(
                id=self._ids.file_id(),
                filename=RESULT_FILENAME,
                purpose="fine-tune-results",
                bytes=len(content),
                created_at=int(finished),
            )
            self._state.blobs.put(record.id, content)
            self._state.add_file(record)
            job.result_file_id = record.id
        job.settled = True
        self._state.save_job(job)
        self._unsettled.discard(job.id)
        log.info("job_settled", job_id=job.id, status=status)

    def active_jobs(self) -> int:
        now = self._clock()
        return sum(
            1
            for job_id in self._unsettled
            if self.timeline(self._state.jobs[job_id]).status(now) not in TERMINAL
        )

    # -- models the jobs made ----------------------------------------------------------
    def made_models(self, now: float) -> Iterator[tuple[str, JobRecord, float]]:
        """(name, job, created) of every model and kept checkpoint, deleted or not."""
        for job in self._state.jobs.values():
            yield from self.made_models_of(job, now)

    @property
    def deleted_models(self) -> set[str]:
        return self._state.deleted_models

    def delete_model(self, name: str) -> None:
        self._state.delete_model(name)
        log.info("model_deleted", model=name)

    def find_model(self, name: str) -> tuple[JobRecord, float] | None:
        """The job behind a servable fine-tuned model and when it became ready, if any."""
        if name in self._state.deleted_models or not name.startswith("ft:"):
            return None
        now = self._clock()
        short = name.split(":ckpt-step-")[0].rsplit(":", 1)[-1]
        for job_id in self._by_short.get(short, ()):
            job = self._state.jobs[job_id]
            for made, owner, created in self.made_models_of(job, now):
                if made == name:
                    ready = created
                    if made == jobview.model_name(owner, self.organization):
                        ready += self._config.model_ready_delay
                    return (owner, ready) if ready <= now else None
        return None

    def made_models_of(self, job: JobRecord, now: float) -> Iterator[tuple[str, JobRecord, float]]:
        timeline = self.timeline(job)
        if not timeline.checkpoints_visible(now):
            return
        for step in timeline.kept_steps[:-1]:
            yield (
                jobview.checkpoint_name(job, self.organization, step),
                job,
                timeline.step_wall(step),
            )
        if timeline.status(now) == SUCCEEDED:
            yield jobview.model_name(job, self.organization), job, timeline.finished_at(now) or now

    def _resolve_model(self, model: str) -> str | None:
        if model.startswith("ft:"):
            return catalog.base_name(model) if self.find_model(model) is not None else None
        base = catalog.base_name(model)
        entry = catalog.lookup(base)
        known = {m.name for m in fine_tunable_bases()}
        return base if entry is not None and base in known else None

    # -- create --------------------------------------------------------------------------
    def _file_purpose(self, file_id: str) -> str | None:
        record = self._state.live_file(file_id, self._clock())
        return None if record is None else record.purpose

    def _check_caps(self, request: JobRequest) -> None:
        config = self._config
        if config.max_active_jobs is not None and self.active_jobs() >= config.max_active_jobs:
            raise ApiError(
                429,
                f"Your organization has reached the maximum of {config.max_active_jobs} "
                "concurrently active fine-tuning jobs. Wait for a job to finish or cancel one, "
                "then try again.",
                code="rate_limit_exceeded",
            )
        if config.daily_job_cap is not None:
            since = self._clock() - DAY_S
            today = sum(
                1
                for job in self._state.jobs.values()
                if job.base_model == request.base_model and job.created_at >= since
            )
            if today >= config.daily_job_cap:
                raise ApiError(
                    429,
                    f"Your organization has reached the maximum of {config.daily_job_cap} "
                    f"fine-tuning requests per day for the model '{request.base_model}'.",
                    code="daily_rate_limit_exceeded",
                )

    async def create(self, body: object) -> JobRecord:
        if self._config.training_not_available:
            raise ApiError(403, TRAINING_NOT_AVAILABLE, code="training_not_available")
        request = parse_job_request(
            body,
            file_purpose=self._file_purpose,
            resolve_model=self._resolve_model,
            rng=self._rng,
        )
        try:
            training = await self.datasets.inspect(
                request.training_file, request.method, request.base_model, "training_file"
            )
            validation = None
            if request.validation_file is not None:
                validation = await self.datasets.inspect(
                    request.validation_file, request.method, request.base_model, "validation_file"
                )
        except (KeyError, FileNotFoundError) as exc:
            raise bad_request(
                "A file of this job was deleted while the job was being created.",
                param="training_file",
            ) from exc
        self._check_caps(request)
        failure = next(
            (
                JobFailure(r.code, r.message, r.param, None)
                for r in (training, validation)
                if isinstance(r, DatasetProblem)
            ),
            None,
        )
        n_examples = 0 if isinstance(training, DatasetProblem) else training.n_examples
        n_valid = (
            0
            if validation is None or isinstance(validation, DatasetProblem)
            else validation.n_examples
        )
        tokens = 0 if isinstance(training, DatasetProblem) else training.billable_tokens
        resolved = resolve_hyperparameters(
            request.method, request.hyperparameters, max(1, n_examples), request.base_model
        )
        training_record = self._state.files.get(request.training_file)
        plan = make_plan(
            resolved=resolved,
            n_examples=n_examples,
            n_validation_examples=n_valid,
            epoch_tokens=tokens,
            training_bytes=0 if training_record is None else training_record.bytes,
            has_validation=request.validation_file is not None,
            speed=self._config.speed,
        )
        if failure is None and self._rng.random() < self._config.job_failure_rate:
            failure = JobFailure(
                "server_error",
                "The job failed due to an internal error. Please try again.",
                None,
                self._rng.randint(1, plan.total_steps),
            )
        job = JobRecord(
            id=self._ids.job_id(),
            created_at=self._clock(),
            model=request.model,
            base_model=request.base_model,
            training_file=request.training_file,
            validation_file=request.validation_file,
            suffix=request.suffix,
            seed=request.seed,
            metadata=request.metadata,
            method=request.method,
            requested_hyperparameters=request.hyperparameters,
            hyperparameters=resolved,
            method_extra=request.method_extra,
            integrations=request.integrations,
            plan=plan,
            failure=failure,
        )
        self._state.save_job(job)
        self._unsettled.add(job.id)
        self._index_names(job)
        log.info(
            "job_created",
            job_id=job.id,
            model=job.model,
            method=job.method,
            n_examples=n_examples,
            total_steps=plan.total_steps,
            planned_failure=failure.code if failure else None,
        )
        return job

    # -- control ---------------------------------------------------------------------------
    def control(self, job_id: str, kind: str) -> JobRecord:
        job = self.get(job_id)
        now = self._clock()
        timeline = self.timeline(job)
        status = timeline.status(now)
        allowed = {
            PAUSE: status not in TERMINAL and status != PAUSED,
            RESUME: status == PAUSED,
            CANCEL: status not in TERMINAL,
        }[kind]
        if not allowed:
            verb = {PAUSE: "paused", RESUME: "resumed", CANCEL: "cancelled"}[kind]
            raise bad_request(
                f"Job {job_id} is {status} and cannot be {verb}.",
                param="fine_tuning_job_id",
                code="invalid_job_state",
            )
        job.controls.append(Control(kind, now, timeline.active(now)))
        self._state.save_job(job)
        log.info("job_control", job_id=job_id, action=kind, previous_status=status)
        return job

    # -- lists ----------------------------------------------------------------------------------
    def list_jobs(
        self, after: str | None, limit: int, metadata: dict[str, str] | None, without_metadata: bool
    ) -> tuple[list[JobRecord], bool]:
        # An unknown cursor is not refused: the real service answers an empty page.
        found, more = self._state.job_list.page(
            after, limit, metadata, without_metadata=without_metadata
        )
        return [self._state.jobs[job_id] for job_id in found], more

    def events(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        job = self.get(job_id)
        timeline = self.timeline(job)
        start = timeline.visible_count(self._clock()) - 1
        if after is not None:
            seq = ids.event_seq(job.id, after)
            start = -1 if seq is None else min(start, seq - 1)  # unknown cursor: empty page
        stop = max(-1, start - limit)
        events = [
            jobview.render_event(job, timeline.entry(seq), self.organization)
            for seq in range(start, stop, -1)
        ]
        return events, stop >= 0

    def checkpoints(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        job = self.get(job_id)
        timeline = self.timeline(job)
        if not timeline.checkpoints_visible(self._clock()):
            return [], False
        steps = sorted(timeline.kept_steps, reverse=True)
        if after is not None:
            step = ids.checkpoint_step(job.id, after)
            steps = [] if step is None else [s for s in steps if s < step]
        page = [
            jobview.render_checkpoint(job, timeline, s, self.organization) for s in steps[:limit]
        ]
        return page, len(steps) > limit
