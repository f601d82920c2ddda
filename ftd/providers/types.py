"""What the rest of ftd knows of a provider's objects: ftd's own nouns, never an SDK's.

Every adapter translates its provider's answers into these frozen records at
the seam; the tracker, the submitter, the evaluation and the control handlers
read nothing else. A record keeps the provider's own status word beside ftd's
(``provider_status``), so nothing the provider said is lost in translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider can do, declared by its adapter and read by the core.

    ``metadata_filter``: its job list filters by metadata on the server;
    ``metadata_stored``: a job keeps the metadata it was created with (so a
    job can be recognised as ftd's after a crash, filter or not).
    """

    pause: bool = False
    metadata_filter: bool = False
    metadata_stored: bool = True
    checkpoints: bool = True
    needs_deployment: bool = False
    batch: bool = False
    price_estimate: bool = False
    delete_model: bool = True
    uploads: bool = False  # the Uploads API (a file in parts, for files over the Files API's limit)
    embeddings: bool = False  # OpenAI's /embeddings, which ``cosine`` graders need


@dataclass(frozen=True, slots=True)
class RemoteFile:
    id: str
    filename: str
    status: str  # ftd's word: uploaded, processed, error (or the provider's if unknown)
    bytes: int | None = None
    status_details: str | None = None
    provider_status: str | None = None


@dataclass(frozen=True, slots=True)
class JobError:
    code: str | None
    message: str | None
    param: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteJob:
    id: str
    status: str  # one of ftd.store.states.JOB_* (an unknown word passes through unchanged)
    model: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    estimated_finish: float | None = None
    error: JobError | None = None
    result_files: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: float | None = None
    provider_status: str | None = None


@dataclass(frozen=True, slots=True)
class JobEvent:
    id: str
    created_at: int
    level: str
    type: str
    message: str
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: str
    step: int
    model: str
    metrics: dict[str, float | int] | None
    created_at: int


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    """One completion's text (content, else tool calls as JSON, else the refusal) and usage."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Embeddings:
    """One embeddings request's vectors, in the order of its inputs, and the tokens it read."""

    vectors: tuple[tuple[float, ...], ...]
    prompt_tokens: int
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Deployment:
    """A model served under a name of its own (Azure deployments, Together endpoints)."""

    name: str
    model: str
    state: str  # creating, succeeded, failed, deleting, or the provider's word
    provider_state: str | None = None
    sku: str | None = None
    capacity: int | None = None
