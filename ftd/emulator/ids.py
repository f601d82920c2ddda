"""Identifiers shaped like the real ones, and the cursors hidden inside derived ones.

Random ids (files, jobs, uploads) only need to be unique. Ids of objects that
are derived from a job's clock (events, checkpoints) are built from the first
16 characters of the job's token and a zero-padded sequence number, so they
are stable across restarts, unique across jobs, sort in creation order (what
``after`` paging relies on) and are as long as the real ones: ``ftevent-`` and
``ftckpt_`` followed by 24 characters.
"""

from __future__ import annotations

import hashlib
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_SEQ_WIDTH = 8
_JOB_PART = 16  # + _SEQ_WIDTH = the 24 characters of a real event or checkpoint id


def token(length: int = 24) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}{token(length)}"


class IdFormat:
    """How new job and file ids look; a flavour with other formats passes a subclass."""

    def job_id(self) -> str:
        return new_id("ftjob-")

    def file_id(self) -> str:
        return new_id("file-")


def job_token(job_id: str) -> str:
    return job_id.removeprefix("ftjob-")


def _job_part(job_id: str) -> str:
    return job_token(job_id)[:_JOB_PART]


def event_id(job_id: str, seq: int) -> str:
    return f"ftevent-{_job_part(job_id)}{seq:0{_SEQ_WIDTH}d}"


def checkpoint_id(job_id: str, step: int) -> str:
    return f"ftckpt_{_job_part(job_id)}{step:0{_SEQ_WIDTH}d}"


def _sequence(prefix: str, job_id: str, value: str) -> int | None:
    head = prefix + _job_part(job_id)
    tail = value[len(head) :]
    if not value.startswith(head) or len(tail) != _SEQ_WIDTH or not tail.isdigit():
        return None
    return int(tail)


def event_seq(job_id: str, value: str) -> int | None:
    """The sequence number inside an event id of this job; None if it is not one."""
    return _sequence("ftevent-", job_id, value)


def checkpoint_step(job_id: str, value: str) -> int | None:
    return _sequence("ftckpt_", job_id, value)


def model_short_id(job_id: str) -> str:
    """The last segment of a fine-tuned model name, like the real 8-character ones."""
    return job_token(job_id)[:8]


def checkpoint_short_id(job_id: str, step: int) -> str:
    """A checkpoint's own 8 characters: real snapshots are not named after the final model."""
    digest = hashlib.blake2b(f"{job_id}:ckpt:{step}".encode(), digest_size=16).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:8])
