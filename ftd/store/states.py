"""The names of every state a dataset or a job can be in, and which of them are final.

A dataset walks: detected → validating → (rejected | duplicate | awaiting_approval
→) ready → uploading → creating_job → submitted; a provider's refusal ends it in
blocked or failed, and a file that vanished before ftd could take it in missing.
From submitted on, the job row carries the story.
"""

from __future__ import annotations

DETECTED = "detected"
VALIDATING = "validating"
DUPLICATE = "duplicate"
REJECTED = "rejected"
AWAITING_APPROVAL = "awaiting_approval"
READY = "ready"
UPLOADING = "uploading"
CREATING_JOB = "creating_job"
SUBMITTED = "submitted"
BLOCKED = "blocked"
FAILED = "failed"
MISSING = "missing"

DATASET_FINAL = frozenset({DUPLICATE, REJECTED, SUBMITTED, BLOCKED, FAILED, MISSING})
# A copy of a dataset that ended in one of these is a fresh attempt, not a duplicate:
# the same lines may pass with another sidecar, or once the provider has been fixed.
NOT_AN_ORIGINAL = frozenset({REJECTED, FAILED, BLOCKED, MISSING})

# Job statuses as the provider reports them.
JOB_VALIDATING_FILES = "validating_files"
JOB_QUEUED = "queued"
JOB_RUNNING = "running"
JOB_PAUSED = "paused"
JOB_SUCCEEDED = "succeeded"
JOB_FAILED = "failed"
JOB_CANCELLED = "cancelled"
JOB_FINAL = frozenset({JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED})
