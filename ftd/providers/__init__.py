"""The provider seam: one ``Provider`` in ftd's own terms, one adapter per provider.

The tracker, the submitter, the evaluation and the control handlers speak
only to ``Provider`` and read only the records in ``types``; each adapter
(``openai_api`` for OpenAI and compatible servers, ``azure``) translates, and
the rules that must never differ between providers (creates sent once,
bounded retries and pages, total deadlines, errors by kind) live once in
``core``.
"""

from ftd.providers.core import JobRequest, Provider
from ftd.providers.registry import Providers, open_provider
from ftd.providers.types import (
    Capabilities,
    ChatAnswer,
    Checkpoint,
    Deployment,
    Embeddings,
    JobError,
    JobEvent,
    RemoteFile,
    RemoteJob,
)

__all__ = [
    "Capabilities",
    "ChatAnswer",
    "Checkpoint",
    "Deployment",
    "Embeddings",
    "JobError",
    "JobEvent",
    "JobRequest",
    "Provider",
    "Providers",
    "RemoteFile",
    "RemoteJob",
    "open_provider",
]
