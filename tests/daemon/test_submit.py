"""How each kind of refusal at job creation becomes a state or a later attempt."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ftd.daemon.submit import CAP_BASE_SECONDS, MAX_ATTEMPTS, Submitter
from ftd.errors import RemoteError
from ftd.store import Store

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class RefusingRemote:
    """Finds no job, and answers every create with the given error."""

    def __init__(self, error: RemoteError) -> None:
        self.error = error
        self.creates = 0

    async def find_jobs(self, key: str, value: str) -> list[Any]:
        return []

    async def create_job(self, **params: Any) -> Any:
        self.creates += 1
        raise self.error


async def _refused_once(tmp_path: Path, error: RemoteError, attempts: int = 0) -> tuple[Any, int]:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        ds = await store.add_dataset(sha256="ab" * 32, name="a.jsonl", path="/a", size_bytes=1)
        settings = {"model": "gpt-4.1-mini-2025-04-14", "method": "supervised"}
        await store.transition(ds.id, "detected", "creating_job", settings=settings)
        for _ in range(attempts):
            await store.postpone(ds.id, 0.0, "earlier")
        await store.upload_intent(ds.id, "train", "f.jsonl", 1)
        await store.record_upload(ds.id, "train", "file-1")
        remote = RefusingRemote(error)
        submitter = Submitter(store, remote, on_submitted=lambda: None)  # type: ignore[arg-type]
        row = await store.dataset(ds.id)
        assert row is not None
        await submitter.handle(row)
        after = await store.dataset(ds.id)
        return after, remote.creates
    finally:
        await store.close()


def _error(kind: str, retry_after: float | None = None) -> RemoteError:
    return RemoteError("create_job", f"429 {kind}", status=429, kind=kind, retry_after=retry_after)


async def test_blocked_is_final_with_the_providers_message(tmp_path: Path) -> None:
    row, creates = await _refused_once(tmp_path, _error("blocked"))
    assert (row.state, creates) == ("blocked", 1)
    assert "429 blocked" in row.error


@pytest.mark.parametrize("kind", ["quota", "auth", "invalid", "not_found"])
async def test_what_a_person_must_fix_fails_at_once(tmp_path: Path, kind: str) -> None:
    row, _ = await _refused_once(tmp_path, _error(kind))
    assert row.state == "failed"


async def test_a_cap_waits_at_least_a_minute_and_never_fails(tmp_path: Path) -> None:
    before = time.time()
    row, _ = await _refused_once(tmp_path, _error("capped"), attempts=MAX_ATTEMPTS + 5)
    assert row.state == "creating_job"
    assert row.next_attempt_at - before >= CAP_BASE_SECONDS * 0.8


async def test_transient_failures_wait_then_fail_when_attempts_run_out(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    row, _ = await _refused_once(tmp_path / "a", _error("transient", retry_after=7.0))
    assert (row.state, row.attempts) == ("creating_job", 1)
    assert row.next_attempt_at - time.time() >= 6.0  # the server's retry-after is honoured
    (tmp_path / "b").mkdir()
    row, _ = await _refused_once(tmp_path / "b", _error("transient"), attempts=MAX_ATTEMPTS - 1)
    assert row.state == "failed"
