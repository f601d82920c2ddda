"""Together's identifier formats and the names its fine-tunes are served under.

Jobs are ``ft-<uuid>``, files ``file-<uuid>`` and endpoints ``endpoint-<uuid>``
(the spec's examples: ``ft-01234567890123456789``, ``endpoint-d23901de-…``;
``FinetuneResponse/id`` is ``format: uuid``). A fine-tune's output name is
``<owner>/<base>-<suffix>-<8 hex>`` (``model_output_name`` in the spec's example
``mynamespace/meta-llama/Llama-2-7b-hf-32162631``); an intermediate
checkpoint is named ``<output name>:<step>``, as ``from_checkpoint`` takes it.
"""

from __future__ import annotations

import hashlib
import uuid

from ftd.emulator import ids


class TogetherIdFormat(ids.IdFormat):
    def job_id(self) -> str:
        return f"ft-{uuid.uuid4()}"

    def file_id(self) -> str:
        return f"file-{uuid.uuid4()}"


def endpoint_id() -> str:
    return f"endpoint-{uuid.uuid4()}"


def short_hash(value: str) -> str:
    return hashlib.blake2b(value.encode(), digest_size=4).hexdigest()


def output_name(owner: str, base: str, suffix: str | None, job_id: str) -> str:
    tail = f"-{suffix}" if suffix else ""
    return f"{owner}/{base}{tail}-{short_hash(job_id)}"


def checkpoint_name(output: str, step: int) -> str:
    return f"{output}:{step}"
