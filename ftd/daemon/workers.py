"""Validation processes kept between datasets: started when needed, reused, killed at will.

Starting Python and loading a tokenizer for every dataset costs about a
second; a producer dropping thousands of small files would wait hours for
that alone. So a child (``prepare_worker --serve``) takes one dataset after
another. It stays as killable as before (a stop, a cancellation or a bad
answer kills it at once), and its memory still goes back: a child is not
reused after a file over SMALL_FILE_BYTES, nor after MAX_REQUESTS datasets.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream

from ftd.logs import get_logger

if TYPE_CHECKING:
    from anyio.abc import Process

log = get_logger("ftd.daemon.workers")
SMALL_FILE_BYTES = 8 << 20
MAX_REQUESTS = 500
MAX_ANSWER_BYTES = 64 << 20


class WorkerFailed(Exception):
    """The child died or answered nonsense; the message says how."""


class WorkerFull(Exception):
    """The child could not write (a full disk): no fault of the dataset."""


@dataclass
class _Child:
    process: Process
    answers: BufferedByteReceiveStream
    served: int = 0


class Workers:
    """Up to as many children as datasets are prepared at once; idle ones wait for work."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._idle: list[_Child] = []
        self.started = 0

    async def _start(self) -> _Child:
        try:
            process = await anyio.open_process(
                [sys.executable, "-m", "ftd.daemon.prepare_worker", "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,  # the daemon's own stderr: the journal
                env=self._env,
            )
        except OSError as exc:
            raise WorkerFailed(f"cannot start the validation process: {exc}") from exc
        self.started += 1
        log.info("validation_process_started", pid=process.pid, started=self.started)
        assert process.stdout is not None
        return _Child(process, BufferedByteReceiveStream(process.stdout))

    async def prepare(self, spec: dict[str, Any], *, size: int) -> dict[str, Any]:
        """The child's answer to one dataset; raises WorkerFull or WorkerFailed."""
        child = self._idle.pop() if self._idle else await self._start()
        keep = False
        try:
            answer = await self._ask(child, spec)
            child.served += 1
            keep = (
                answer.get("status") != "error"
                and size <= SMALL_FILE_BYTES
                and child.served < MAX_REQUESTS
            )
        finally:
            if keep:
                self._idle.append(child)
            else:
                await _end(child)
        status = answer.get("status")
        if status == "tempfail":
            raise WorkerFull(str(answer.get("error") or "the validation process could not write"))
        if status != "ok" or not isinstance(answer.get("answer"), dict):
            raise WorkerFailed(f"validation process failed: {answer.get('error', answer)}")
        result: dict[str, Any] = answer["answer"]
        return result

    async def _ask(self, child: _Child, spec: dict[str, Any]) -> dict[str, Any]:
        assert child.process.stdin is not None
        try:
            await child.process.stdin.send(json.dumps(spec).encode() + b"\n")
            line = await child.answers.receive_until(b"\n", MAX_ANSWER_BYTES)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError) as exc:
            code = await _end(child)
            raise WorkerFailed(f"validation process exited with {code}: {exc!r}") from exc
        except anyio.DelimiterNotFound as exc:
            raise WorkerFailed(f"validation answer over {MAX_ANSWER_BYTES:,} bytes") from exc
        try:
            answer: dict[str, Any] = json.loads(line)
        except ValueError as exc:
            raise WorkerFailed(f"validation process answered no JSON: {exc}") from exc
        return answer

    async def aclose(self) -> None:
        """Kill every idle child (those at work are killed by their cancelled request)."""
        idle, self._idle = self._idle, []
        for child in idle:
            await _end(child)


async def _end(child: _Child) -> int | None:
    """Kill the child and reap it; its exit code."""
    with anyio.CancelScope(shield=True):
        if child.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.kill()
        with anyio.move_on_after(5):
            await child.process.wait()
        await child.process.aclose()
    return child.process.returncode


def environment(secret_env: tuple[str, ...]) -> dict[str, str]:
    """The daemon's environment without the variables holding secrets."""
    return {k: v for k, v in os.environ.items() if k not in secret_env}
