"""Azure's identifier formats, and the job a model or checkpoint name points back to.

Azure ids carry 32 lowercase hex digits: ``ftjob-<hex>``, ``file-<hex>``.
A fine-tuned model is named ``<base>.ft-<hex>`` with the job's own hex
(examples/get_model_finetune.json: job ``ft-72a2…``, model ``curie.ft-72a2…``)
and ``-<suffix>`` appended when one was given; a checkpoint model adds
``:ckpt-step-<N>`` (examples/get_finetuning_job_checkpoints.json). Checkpoint
ids are ``ftchkpt-<hex><step>``, derived from the job so they are stable
across restarts and sort by step. (That example file shows ``ftckpt_…``; the
live service answers ``ftchkpt-…``, which is what clients see today.)
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from ftd.emulator import ids

if TYPE_CHECKING:
    from ftd.emulator.records import JobRecord

JOB_PREFIX = "ftjob-"
CHECKPOINT_PREFIX = "ftchkpt-"
_HEX = 32
_STEP_WIDTH = 8
_MODEL = re.compile(r"^(?P<base>.+)\.ft-(?P<hex>[0-9a-f]{32})(?:-(?P<suffix>[A-Za-z0-9_-]+))?$")


def hex_id() -> str:
    return secrets.token_hex(_HEX // 2)


class AzureIdFormat(ids.IdFormat):
    def job_id(self) -> str:
        return JOB_PREFIX + hex_id()

    def file_id(self) -> str:
        return "file-" + hex_id()


def job_hex(job_id: str) -> str:
    return job_id.removeprefix(JOB_PREFIX)


def model_name(job: JobRecord) -> str:
    name = f"{job.base_model}.ft-{job_hex(job.id)}"
    return f"{name}-{job.suffix}" if job.suffix else name


def checkpoint_model(job: JobRecord, step: int) -> str:
    """The final checkpoint is the model itself; earlier ones carry ``:ckpt-step-N``."""
    if step == job.plan.total_steps:
        return model_name(job)
    return f"{model_name(job)}:ckpt-step-{step}"


def checkpoint_id(job: JobRecord, step: int) -> str:
    return f"{CHECKPOINT_PREFIX}{job_hex(job.id)}{step:0{_STEP_WIDTH}d}"


def checkpoint_step(job: JobRecord, value: str) -> int | None:
    head = CHECKPOINT_PREFIX + job_hex(job.id)
    tail = value[len(head) :]
    if not value.startswith(head) or len(tail) != _STEP_WIDTH or not tail.isdigit():
        return None
    return int(tail)


def job_of_model(name: str) -> tuple[str, int | None] | None:
    """(job id, checkpoint step or None for the model itself) a model name was made by."""
    model, _, step_text = name.partition(":ckpt-step-")
    match = _MODEL.match(model)
    if match is None:
        return None
    if step_text and not step_text.isdigit():
        return None
    return JOB_PREFIX + match["hex"], int(step_text) if step_text else None
