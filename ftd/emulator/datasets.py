"""Inspection results per file, computed once even when a thousand jobs ask at once.

Parsing and counting tokens of a big file takes seconds, so it runs in a
worker thread, and concurrent requests for the same (file, method, tokenizer)
wait on the same computation instead of repeating it. Results are derived
from file bytes only, so they are never persisted: a restarted emulator
recomputes them on first use.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ftd import catalog
from ftd.emulator.trainingdata import DatasetProblem, DatasetSummary, inspect_dataset

if TYPE_CHECKING:
    from ftd.emulator.state import EmulatorState

Inspection = DatasetSummary | DatasetProblem
_Key = tuple[str, str, str, str]


class DatasetCache:
    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self._done: dict[_Key, Inspection] = {}
        self._pending: dict[_Key, asyncio.Future[Inspection]] = {}

    def cached(self, file_id: str, method: str, model: str, param: str) -> Inspection | None:
        return self._done.get((file_id, method, catalog.encoding_name(model), param))

    async def inspect(self, file_id: str, method: str, model: str, param: str) -> Inspection:
        key = (file_id, method, catalog.encoding_name(model), param)
        found = self._done.get(key)
        if found is not None:
            return found
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Inspection] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await asyncio.to_thread(self._run, file_id, method, model, param)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # waiters, if any, re-raise it; nobody else must warn
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            self._pending.pop(key, None)
        self._done[key] = result
        future.set_result(result)
        return result

    def _run(self, file_id: str, method: str, model: str, param: str) -> Inspection:
        content = self._state.blobs.read(file_id)
        return inspect_dataset(content, method=method, model=model, file_id=file_id, param=param)

    def forget(self, file_id: str) -> None:
        for key in [k for k in self._done if k[0] == file_id]:
            del self._done[key]
