"""What the provider holds, read for the audit in each emulator flavour's own API.

The OpenAI and Azure flavours are read with the OpenAI SDK. The Together
flavour is read through ftd's Together adapter: Together's events and
checkpoints carry no ids of their own, so the ids ftd stores are the
adapter's names for them, and only the adapter can name what the emulator
holds the same way. Files and jobs come straight from the emulator's lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from ftd.providers.together import TogetherProvider

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tests.daemon.harness import Emulator


@dataclass(frozen=True, slots=True)
class RemoteJob:
    id: str
    status: str  # ftd's word
    fine_tuned_model: str | None
    trained_tokens: int | None
    tag: str | None


def _together(emulator: Emulator) -> TogetherProvider:
    return TogetherProvider("audit", api_key="audit", base_url=emulator.base_url)


def _run(emulator: Emulator, read: Callable[[TogetherProvider], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        provider = _together(emulator)
        try:
            return await read(provider)
        finally:
            await provider.close()

    return anyio.run(main)


class Remote:
    def __init__(self, emulator: Emulator, flavor: str) -> None:
        self._emulator = emulator
        self.together = flavor == "together"

    def filenames(self) -> list[str]:
        if self.together:
            files = _run(self._emulator, lambda p: p._files())
            return [f.filename for f in files]
        return [f.filename for f in self._emulator.client.files.list()]

    def jobs(self) -> list[RemoteJob]:
        if self.together:

            async def read(provider: TogetherProvider) -> list[Any]:
                page, _more = await provider.jobs_page({}, None, 1000)
                return page

            return [
                RemoteJob(
                    j.id, j.status, j.fine_tuned_model, j.trained_tokens, j.metadata.get("ftd_tag")
                )
                for j in _run(self._emulator, read)
            ]
        return [
            RemoteJob(
                j.id,
                j.status,
                j.fine_tuned_model,
                j.trained_tokens,
                (j.metadata or {}).get("ftd_tag"),
            )
            for j in self._emulator.client.fine_tuning.jobs.list(limit=100)
        ]

    def checkpoint_ids(self, job_id: str) -> set[str]:
        if self.together:
            page = _run(self._emulator, lambda p: p.checkpoints_page(job_id))[0]
            return {c.id for c in page}
        client = self._emulator.client
        return {c.id for c in client.fine_tuning.jobs.checkpoints.list(job_id)}

    def event_ids(self, job_id: str) -> set[str]:
        if self.together:
            page = _run(self._emulator, lambda p: p.events_page(job_id, None, 100_000))[0]
            return {e.id for e in page}
        client = self._emulator.client
        return {e.id for e in client.fine_tuning.jobs.list_events(job_id, limit=100)}
