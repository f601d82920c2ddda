"""Together's fine-tuning jobs on top of the core's records, clock and dataset checks.

The core's timeline decides when a job validates, queues, trains and ends,
and whether it fails; this layer checks Together's request (``POST
/fine-tunes`` in the spec), keeps its extra fields and renders its words:

    core            Together
    validating      pending
    queued          queued
    running         running, then compressing (first half of the finishing
                    phase) and uploading (second half)
    succeeded       completed
    failed          error
    cancelled       cancel_requested for CANCEL_GRACE_S (emulated), then cancelled

Data: conversational ``messages`` for SFT and Together's preference format
(``input.messages``, ``preferred_output``, ``non_preferred_output``) for DPO,
the same shapes the core already checks, so the core's dataset inspection
decides a file's fate. A file the core refuses fails the job at validation
(status ``error``) with the core's message.

Checkpoints: ``n_checkpoints`` spread evenly over the steps, each one listed
once trained (``checkpoint_save`` event); the final one is the model itself.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING, Any

from ftd import catalog as ftd_catalog
from ftd.emulator import metrics
from ftd.emulator.apierrors import ApiError, bad_request, not_found
from ftd.emulator.jobs import TRAINING_NOT_AVAILABLE
from ftd.emulator.planning import make_plan
from ftd.emulator.records import CANCEL, JobFailure, JobRecord
from ftd.emulator.timeline import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    VALIDATING_FILES,
)
from ftd.emulator.together import catalog
from ftd.emulator.together import ids as together_ids
from ftd.emulator.together.store import JobExtra, TogetherStore
from ftd.emulator.trainingdata import DatasetProblem
from ftd.logs import get_logger

if TYPE_CHECKING:
    from ftd.emulator.core import EmulatorCore

log = get_logger(__name__)

PENDING = "pending"
COMPRESSING = "compressing"
UPLOADING = "uploading"
CANCEL_REQUESTED = "cancel_requested"
COMPLETED = "completed"
ERROR = "error"
CANCEL_GRACE_S = 2.0
MAX_SUFFIX = 40
SFT = "sft"
DPO = "dpo"
LORA = "Lora"
FULL = "Full"
_CORE_METHOD = {SFT: ftd_catalog.SUPERVISED, DPO: ftd_catalog.DPO}
_STATUS = {
    VALIDATING_FILES: PENDING,
    QUEUED: QUEUED,
    SUCCEEDED: COMPLETED,
    FAILED: ERROR,
}


def iso(wall: float) -> str:
    moment = dt.datetime.fromtimestamp(wall, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(
            f"{name} must be an integer from {low} to {high}, got {value!r}", param=name
        )
    return value


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad_request(
            f"{name} must be a number from {low:g} to {high:g}, got {value!r}", param=name
        )
    return float(value)


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{name} must be a string", param=name)
    return value


def _training_type(body: dict[str, Any], base: catalog.TogetherBase) -> dict[str, Any]:
    given = body.get("training_type")
    if given is None:
        return {
            "type": LORA,
            "lora_r": base.max_rank,
            "lora_alpha": base.max_rank * 2,
            "lora_dropout": 0.0,
            "lora_trainable_modules": "all-linear",
        }
    if not isinstance(given, dict) or given.get("type") not in (LORA, FULL):
        raise bad_request("training_type.type must be 'Lora' or 'Full'", param="training_type")
    if given["type"] == FULL:
        if not base.full_training:
            raise bad_request(
                f"Full training is not supported for {base.name}; use LoRA training.",
                param="training_type",
            )
        return {"type": FULL}
    rank = _int(given, "lora_r", 0, 1, base.max_rank) if "lora_r" in given else None
    alpha = given.get("lora_alpha")
    if rank is None or isinstance(alpha, bool) or not isinstance(alpha, int) or alpha < 1:
        raise bad_request(
            "training_type of type Lora needs lora_r (1 to "
            f"{base.max_rank}) and lora_alpha (a positive integer)",
            param="training_type",
        )
    dropout = _number(given, "lora_dropout", 0.0, 0.0, 1.0)
    modules = given.get("lora_trainable_modules", "all-linear")
    if not isinstance(modules, str):
        raise bad_request("lora_trainable_modules must be a string", param="training_type")
    known = {"all-linear", *catalog.TARGET_MODULES}
    unknown = [m for m in modules.split(",") if m.strip() not in known]
    if unknown:
        raise bad_request(
            f"lora_trainable_modules: unknown module {unknown[0].strip()!r}; known: "
            + ", ".join(sorted(known)),
            param="training_type",
        )
    return {
        "type": LORA,
        "lora_r": rank,
        "lora_alpha": alpha,
        "lora_dropout": dropout,
        "lora_trainable_modules": modules,
    }


def _training_method(body: dict[str, Any]) -> dict[str, Any]:
    given = body.get("training_method")
    train_on_inputs = body.get("train_on_inputs", "auto")
    if given is None:
        given = {"method": SFT, "train_on_inputs": train_on_inputs}
    if not isinstance(given, dict) or given.get("method") not in (SFT, DPO):
        raise bad_request("training_method.method must be 'sft' or 'dpo'", param="training_method")
    if given["method"] == SFT:
        value = given.get("train_on_inputs", train_on_inputs)
        if value != "auto" and not isinstance(value, bool):
            raise bad_request(
                "train_on_inputs must be true, false or 'auto'", param="training_method"
            )
        # "auto" masks the prompt of conversational data; shown resolved, as a boolean
        # (TrainingMethodSFT/train_on_inputs also says ``type: boolean``).
        return {"method": SFT, "train_on_inputs": value is True}
    method: dict[str, Any] = {"method": DPO}
    method["dpo_beta"] = _number(given, "dpo_beta", 0.1, 0.0, 10.0)
    for name in ("rpo_alpha", "simpo_gamma"):
        if name in given:
            method[name] = _number(given, name, 0.0, 0.0, 10.0)
    for name in ("dpo_normalize_logratios_by_length", "dpo_reference_free"):
        if name in given:
            if not isinstance(given[name], bool):
                raise bad_request(f"{name} must be true or false", param="training_method")
            method[name] = given[name]
    return method


def _lr_scheduler(body: dict[str, Any]) -> dict[str, Any]:
    given = body.get("lr_scheduler")
    if given is None or given == "none":
        return {"lr_scheduler_type": "linear", "lr_scheduler_args": {"min_lr_ratio": 0.0}}
    if not isinstance(given, dict) or given.get("lr_scheduler_type") not in ("linear", "cosine"):
        raise bad_request(
            "lr_scheduler.lr_scheduler_type must be 'linear' or 'cosine'", param="lr_scheduler"
        )
    args = given.get("lr_scheduler_args") or {}
    if not isinstance(args, dict):
        raise bad_request("lr_scheduler.lr_scheduler_args must be an object", param="lr_scheduler")
    shown: dict[str, Any] = {"min_lr_ratio": _number(args, "min_lr_ratio", 0.0, 0.0, 1.0)}
    if given["lr_scheduler_type"] == "cosine":
        shown["num_cycles"] = _number(args, "num_cycles", 0.5, 0.0, 100.0)
    return {"lr_scheduler_type": given["lr_scheduler_type"], "lr_scheduler_args": shown}


class TogetherJobs:
    def __init__(self, core: EmulatorCore, store: TogetherStore) -> None:
        self._core = core
        self._store = store
        self._rng = random.Random(core.config.seed)

    # -- create -------------------------------------------------------------------------
    def _base(self, model: object) -> catalog.TogetherBase:
        if not isinstance(model, str) or not model:
            raise bad_request("model is required", param="model")
        base = catalog.BASES.get(model)
        if base is None:
            raise bad_request(
                f"Model '{model}' is not supported for fine-tuning. See "
                "/v1/fine-tunes/models/supported for the models that are.",
                param="model",
            )
        return base

    def _file(self, body: dict[str, Any], name: str, required: bool) -> str | None:
        value = body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise bad_request(f"{name} is required", param=name)
        record = self._core.state.live_file(value, self._core.clock())
        if record is None:
            raise bad_request(f"File {value} was not found.", param=name)
        if record.purpose != "fine-tune":
            raise bad_request(f"File {value} does not have purpose fine-tune.", param=name)
        return value

    async def create(self, body: object) -> JobRecord:
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object")
        config = self._core.config
        if config.training_not_available:
            raise ApiError(403, TRAINING_NOT_AVAILABLE, code="training_not_available")
        base = self._base(body.get("model"))
        training_file = self._file(body, "training_file", True)
        assert training_file is not None
        validation_file = self._file(body, "validation_file", False)
        n_epochs = _int(body, "n_epochs", 1, 1, catalog.MAX_EPOCHS)
        n_checkpoints = _int(body, "n_checkpoints", 1, 1, 10_000)
        n_evals = _int(body, "n_evals", 0, 0, catalog.MAX_EVALS)
        if n_evals and validation_file is None:
            raise bad_request("n_evals needs a validation_file", param="n_evals")
        learning_rate = _number(
            body, "learning_rate", 1e-5, catalog.MIN_LEARNING_RATE, catalog.MAX_LEARNING_RATE
        )
        warmup_ratio = _number(body, "warmup_ratio", 0.0, 0.0, 1.0)
        suffix = _text(body, "suffix")
        if suffix is not None and len(suffix) > MAX_SUFFIX:
            raise bad_request(
                f"suffix is {len(suffix)} characters; at most {MAX_SUFFIX} are allowed",
                param="suffix",
            )
        seed = body.get("random_seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise bad_request("random_seed must be an integer or null", param="random_seed")
        training_type = _training_type(body, base)
        training_method = _training_method(body)
        dpo = training_method["method"] == DPO
        high = base.max_batch_size_dpo if dpo else base.max_batch_size
        batch = body.get("batch_size", "max")
        if batch != "max" and (
            isinstance(batch, bool)
            or not isinstance(batch, int)
            or not base.min_batch_size <= batch <= high
        ):
            raise bad_request(
                f"batch_size must be 'max' or an integer from {base.min_batch_size} to {high} "
                f"for {base.name}",
                param="batch_size",
            )
        for name in (
            "wandb_api_key",
            "wandb_base_url",
            "wandb_project_name",
            "wandb_name",
            "wandb_entity",
        ):
            _text(body, name)
        lr_scheduler = _lr_scheduler(body)
        method = _CORE_METHOD[training_method["method"]]
        inspected = [
            await self._core.jobs.datasets.inspect(file_id, method, base.name, param)
            for file_id, param in (
                (training_file, "training_file"),
                (validation_file, "validation_file"),
            )
            if file_id is not None
        ]
        failure = next(
            (
                JobFailure(r.code, r.message, r.param, None)
                for r in inspected
                if isinstance(r, DatasetProblem)
            ),
            None,
        )
        training = inspected[0]
        n_examples = 0 if isinstance(training, DatasetProblem) else training.n_examples
        tokens = 0 if isinstance(training, DatasetProblem) else training.billable_tokens
        n_valid = 0
        if len(inspected) > 1 and not isinstance(inspected[1], DatasetProblem):
            n_valid = inspected[1].n_examples
        batch_size = min(high, max(1, n_examples)) if batch == "max" else batch
        record = self._core.state.files.get(training_file)
        plan = make_plan(
            resolved={"n_epochs": n_epochs, "batch_size": batch_size},
            n_examples=n_examples,
            n_validation_examples=n_valid,
            epoch_tokens=tokens,
            training_bytes=0 if record is None else record.bytes,
            has_validation=validation_file is not None,
            speed=config.speed,
        )
        rng = self._rng
        if failure is None and rng.random() < config.job_failure_rate:
            failure = JobFailure(
                "server_error",
                "Training failed due to an internal error. Please try again.",
                None,
                rng.randint(1, plan.total_steps),
            )
        job_id = together_ids.TogetherIdFormat().job_id()
        job = JobRecord(
            id=job_id,
            created_at=self._core.clock(),
            model=base.name,
            base_model=base.name,
            training_file=training_file,
            validation_file=validation_file,
            suffix=suffix,
            seed=42 if seed is None else seed,
            metadata=None,
            method=method,
            requested_hyperparameters={"n_epochs": n_epochs, "batch_size": batch},
            hyperparameters={"n_epochs": n_epochs, "batch_size": batch_size},
            method_extra={},
            integrations=[],
            plan=plan,
            failure=failure,
            settled=True,  # no result file: Together serves metrics from their own route
        )
        extra = JobExtra(
            job_id=job.id,
            output_name=together_ids.output_name(
                self._core.settings.organization, base.name, suffix, job.id
            ),
            training_type=training_type,
            training_method=training_method,
            n_checkpoints=min(n_checkpoints, plan.total_steps),
            n_evals=n_evals,
            learning_rate=learning_rate,
            lr_scheduler=lr_scheduler,
            warmup_ratio=warmup_ratio,
            batch_size_requested=batch,
            random_seed=seed,
            wandb_project_name=body.get("wandb_project_name"),
            wandb_name=body.get("wandb_name"),
            train_on_inputs=bool(training_method.get("train_on_inputs") is True),
        )
        self._core.state.save_job(job)
        self._store.save_extra(extra)
        log.info(
            "together_job_created",
            job_id=job.id,
            model=base.name,
            method=training_method["method"],
            training_type=training_type["type"],
            total_steps=plan.total_steps,
            planned_failure=failure.code if failure else None,
        )
        return job

    # -- lookups ----------------------------------------------------------------------
    def get(self, job_id: str) -> tuple[JobRecord, JobExtra]:
        job = self._core.state.jobs.get(job_id)
        extra = self._store.extras.get(job_id)
        if job is None or extra is None:
            raise not_found(f"Fine-tune job {job_id} not found", param="id")
        return job, extra

    def all(self) -> list[tuple[JobRecord, JobExtra]]:
        return [
            (job, self._store.extras[job.id])
            for job in self._core.state.jobs.values()
            if job.id in self._store.extras
        ]

    def status(self, job: JobRecord) -> str:
        now = self._core.clock()
        timeline = self._core.jobs.timeline(job)
        status = timeline.status(now)
        if status == CANCELLED:
            cancel = next(c for c in job.controls if c.kind == CANCEL)
            grace = CANCEL_GRACE_S / self._core.config.speed
            return CANCEL_REQUESTED if now < cancel.wall + grace else CANCELLED
        if status == RUNNING:
            active = timeline.active(now)
            if active >= timeline.checkpoint_t:
                return UPLOADING
            if active >= timeline.train_end:
                return COMPRESSING
            return RUNNING
        return _STATUS.get(status, status)

    def trained_steps(self, job: JobRecord) -> int:
        timeline = self._core.jobs.timeline(job)
        if timeline.failed_validation:
            return 0
        if job.plan.step_s <= 0:
            return job.plan.total_steps
        active = timeline.active(self._core.clock())
        done = int((active - timeline.queue_end) / job.plan.step_s)
        cap = job.plan.total_steps
        if job.failure is not None and job.failure.at_step is not None:
            cap = min(cap, job.failure.at_step)
        return max(0, min(cap, done))

    def checkpoint_steps(self, job: JobRecord, extra: JobExtra) -> list[int]:
        total = job.plan.total_steps
        count = max(1, extra.n_checkpoints)
        return sorted({max(1, round(total * i / count)) for i in range(1, count + 1)})

    # -- control ----------------------------------------------------------------------
    def cancel(self, job_id: str) -> JobRecord:
        job, _extra = self.get(job_id)
        status = self._core.jobs.timeline(job).status(self._core.clock())
        if status in TERMINAL:
            raise bad_request(
                f"Fine-tune job {job_id} is {self.status(job)} and cannot be cancelled.",
                param="id",
            )
        return self._core.jobs.control(job_id, CANCEL)

    # -- metrics -----------------------------------------------------------------------
    def metrics(
        self, job: JobRecord, extra: JobExtra, low: int, high: int
    ) -> list[dict[str, float]]:
        rows = []
        eval_every = job.plan.total_steps // extra.n_evals if extra.n_evals else 0
        for step in range(max(1, low), min(high, self.trained_steps(job)) + 1):
            data = metrics.step_metrics(job.plan, job.method, job.seed, step)
            row: dict[str, float] = {
                "train/loss": float(data["train_loss"]),
                "train/learning_rate": extra.learning_rate
                * (1 - step / (job.plan.total_steps + 1)),
                "train/global_step": float(step),
                "train/epoch": round(step / job.plan.steps_per_epoch, 4),
            }
            if eval_every and step % max(1, eval_every) == 0 and "valid_loss" in data:
                row["eval/loss"] = float(data["valid_loss"])
            rows.append(row)
        return rows
