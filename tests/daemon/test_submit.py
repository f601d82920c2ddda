"""How a refusal at upload or job creation becomes a resend, a state or a later attempt."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ftd.daemon.submit import (
    CAP_BASE_SECONDS,
    MAX_ATTEMPTS,
    RESEND_MAX_SECONDS,
    RETRY_BASE_SECONDS,
    SENDS_PER_ATTEMPT,
    Submitter,
)
from ftd.errors import RemoteError
from ftd.providers import JobRequest
from ftd.providers.openai_api import job_body
from ftd.store import SplitRow, Store

pytestmark = pytest.mark.anyio


class RefusingRemote:
    """Finds no job or file, takes every upload, and answers the first ``refusals``
    creates of a job with the given error (all of them by default)."""

    profile = "default"

    def __init__(self, error: RemoteError, refusals: int = 10**6) -> None:
        self.error = error
        self.refusals = refusals
        self.calls: list[str] = []

    @property
    def creates(self) -> int:
        return self.calls.count("create_job")

    async def find_jobs(self, key: str, value: str) -> list[Any]:
        self.calls.append("find_jobs")
        return []

    async def create_job(self, request: JobRequest) -> Any:
        self.calls.append("create_job")
        if self.creates <= self.refusals:
            raise self.error
        return SimpleNamespace(id="ftjob-1", status="queued", model=request.model, metadata={})

    async def find_file(self, name: str) -> None:
        self.calls.append("find_file")

    async def upload(self, path: Path, name: str) -> Any:
        self.calls.append("upload")
        return SimpleNamespace(id=f"file-{name}", status="processed")


class Run:
    """A store, a dataset in a given state, and a submitter whose waits are only noted."""

    def __init__(self, store: Store, remote: RefusingRemote) -> None:
        self.store = store
        self.remote = remote
        self.waits: list[float] = []
        self.submitter = Submitter(
            store,
            remote,  # type: ignore[arg-type]
            on_submitted=lambda: None,
            sleep=self._sleep,
        )

    async def _sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def handle(self, dataset_id: int) -> Any:
        row = await self.store.dataset(dataset_id)
        assert row is not None
        await self.submitter.handle(row)
        return await self.store.dataset(dataset_id)


async def _creating_job(store: Store, attempts: int = 0) -> int:
    """A dataset whose file is uploaded, about to create its job after ``attempts`` tries."""
    ds = await store.add_dataset(sha256="ab" * 32, name="a.jsonl", path="/a", size_bytes=1)
    settings = {"model": "gpt-4.1-mini-2025-04-14", "method": "supervised"}
    await store.transition(ds.id, "detected", "creating_job", settings=settings)
    await store.upload_intent(ds.id, "train", "f.jsonl", 1)
    await store.record_upload(ds.id, "train", "file-1")
    for _ in range(attempts):
        await store.postpone(ds.id, 0.0, "earlier")
    return ds.id


async def _uploading(store: Store, tmp_path: Path, attempts: int = 0) -> int:
    """A dataset with train and validation splits on disk, about to upload them."""
    ds = await store.add_dataset(sha256="cd" * 32, name="b.jsonl", path="/b", size_bytes=1)
    splits = []
    for side in ("train", "validation"):
        path = tmp_path / f"{side}.jsonl"
        path.write_text("{}\n")
        splits.append(SplitRow(dataset_id=ds.id, side=side, path=str(path), examples=1, sha256="x"))
    settings = {"model": "gpt-4.1-mini-2025-04-14", "method": "supervised"}
    await store.transition(ds.id, "detected", "uploading", settings=settings, splits=splits)
    for _ in range(attempts):
        await store.postpone(ds.id, 0.0, "upload_file: 503")
    return ds.id


async def _refused_once(tmp_path: Path, error: RemoteError, attempts: int = 0) -> tuple[Any, int]:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        run = Run(store, RefusingRemote(error))
        after = await run.handle(await _creating_job(store, attempts))
        return after, run.remote.creates
    finally:
        await store.close()


def _error(
    kind: str, retry_after: float | None = None, operation: str = "create_job"
) -> RemoteError:
    return RemoteError(operation, f"429 {kind}", status=429, kind=kind, retry_after=retry_after)


async def test_blocked_is_final_with_the_providers_message(tmp_path: Path) -> None:
    row, creates = await _refused_once(tmp_path, _error("blocked"))
    assert (row.state, creates) == ("blocked", 1)
    assert "429 blocked" in row.error


@pytest.mark.parametrize("kind", ["quota", "auth", "invalid", "not_found"])
async def test_what_a_person_must_fix_fails_at_once(tmp_path: Path, kind: str) -> None:
    row, creates = await _refused_once(tmp_path, _error(kind))
    assert (row.state, creates) == ("failed", 1)


async def test_a_cap_waits_at_least_a_minute_and_never_fails(tmp_path: Path) -> None:
    before = time.time()
    row, creates = await _refused_once(tmp_path, _error("capped"), attempts=MAX_ATTEMPTS + 5)
    assert (row.state, creates) == ("creating_job", 1)
    assert row.next_attempt_at - before >= CAP_BASE_SECONDS * 0.8


async def test_transient_failures_wait_then_fail_when_attempts_run_out(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    row, creates = await _refused_once(tmp_path / "a", _error("transient", retry_after=7.0))
    # A retry-after longer than a resend may wait goes straight to the dataset's back-off.
    assert RESEND_MAX_SECONDS < 7.0
    assert (row.state, row.attempts, creates) == ("creating_job", 1, 1)
    assert row.next_attempt_at - time.time() >= 6.0  # the server's retry-after is honoured
    (tmp_path / "b").mkdir()
    row, creates = await _refused_once(
        tmp_path / "b", _error("transient"), attempts=MAX_ATTEMPTS - 1
    )
    assert (row.state, creates) == ("failed", SENDS_PER_ATTEMPT)


async def test_a_create_in_doubt_is_looked_up_and_resent_within_seconds(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        run = Run(store, RefusingRemote(_error("transient"), refusals=SENDS_PER_ATTEMPT - 1))
        row = await run.handle(await _creating_job(store))
        assert (row.state, row.attempts) == ("submitted", 0)
        # Every send, the first included, is preceded by a look-up by the dataset's tag.
        assert run.remote.calls == ["find_jobs", "create_job"] * SENDS_PER_ATTEMPT
        assert len(run.waits) == SENDS_PER_ATTEMPT - 1
        assert all(0 < wait <= RESEND_MAX_SECONDS for wait in run.waits)
        assert run.waits == sorted(run.waits)  # growing
    finally:
        await store.close()


async def test_a_rate_limit_resends_after_the_providers_short_wait(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        refusal = _error("rate_limited", retry_after=2.5)
        run = Run(store, RefusingRemote(refusal, refusals=1))
        row = await run.handle(await _creating_job(store))
        assert (row.state, run.remote.creates) == ("submitted", 2)
        assert run.waits == [2.5]
    finally:
        await store.close()


class FlakyUploads(RefusingRemote):
    """Each file's first upload fails in doubt; the look-up finds nothing, the resend works."""

    def __init__(self, error: RemoteError) -> None:
        super().__init__(error)
        self.failed: set[str] = set()

    async def upload(self, path: Path, name: str) -> Any:
        if name not in self.failed:
            self.failed.add(name)
            self.calls.append("upload")
            raise _error("transient", operation="upload_file")
        return await super().upload(path, name)


async def test_an_upload_in_doubt_is_looked_up_by_name_before_it_is_resent(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        run = Run(store, FlakyUploads(_error("transient")))
        dataset_id = await _uploading(store, tmp_path, attempts=4)
        row = await run.handle(dataset_id)
        assert row.state == "creating_job"
        per_file = ["upload", "find_file", "upload"]
        assert run.remote.calls[:6] == per_file * 2
        uploads = await store.uploads(dataset_id)
        assert {side: u.file_id is not None for side, u in uploads.items()} == {
            "train": True,
            "validation": True,
        }
    finally:
        await store.close()


async def test_each_file_made_starts_the_back_off_afresh(tmp_path: Path) -> None:
    """Five failed attempts before the uploads went through: the first failed create waits
    the first back-off step (seconds), not the sixth (minutes)."""
    store = await Store.open(tmp_path / "ftd.db")
    try:
        run = Run(store, RefusingRemote(_error("transient")))
        dataset_id = await _uploading(store, tmp_path, attempts=5)
        before = time.time()
        after = await run.handle(dataset_id)
        assert (after.state, after.attempts) == ("creating_job", 1)
        assert run.remote.creates == SENDS_PER_ATTEMPT
        assert after.next_attempt_at - before <= RETRY_BASE_SECONDS * 1.2
    finally:
        await store.close()


async def test_a_file_made_resets_the_attempts_of_a_dataset_still_uploading(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        dataset_id = await _uploading(store, tmp_path, attempts=6)
        await store.upload_intent(dataset_id, "train", "t.jsonl", 3)
        await store.record_upload(dataset_id, "train", "file-t")
        row = await store.dataset(dataset_id)
        assert row is not None
        assert (row.state, row.attempts) == ("uploading", 0)
    finally:
        await store.close()


class CapturingRemote(RefusingRemote):
    """Takes every create and keeps its parameters."""

    def __init__(self) -> None:
        super().__init__(RemoteError("create_job", "unused"), refusals=0)
        self.params: dict[str, Any] = {}

    async def create_job(self, request: JobRequest) -> Any:
        self.params = job_body(request)  # the body OpenAI's API is sent
        return await super().create_job(request)


async def test_a_reinforcement_run_sends_its_grader_and_the_emulator_takes_it(
    tmp_path: Path,
) -> None:
    import random

    from ftd.config.reinforcement import Reinforcement
    from ftd.config.run import Hyperparameters, RunDefaults
    from ftd.emulator.jobspec import parse_job_request

    grader = {
        "type": "text_similarity",
        "name": "close",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "evaluation_metric": "fuzzy_match",
    }
    run = RunDefaults(
        model="acme-rft-1",
        method="reinforcement",
        hyperparameters=Hyperparameters(n_epochs=2),
        reinforcement=Reinforcement.model_validate(
            {"grader": grader, "hyperparameters": {"reasoning_effort": "low", "eval_samples": 3}}
        ),
    ).merged()
    store = await Store.open(tmp_path / "ftd.db")
    try:
        ds = await store.add_dataset(sha256="ef" * 32, name="r.jsonl", path="/r", size_bytes=1)
        await store.transition(
            ds.id, "detected", "creating_job", settings=run.model_dump(mode="json")
        )
        await store.upload_intent(ds.id, "train", "f.jsonl", 1)
        await store.record_upload(ds.id, "train", "file-1")
        remote = CapturingRemote()
        after = await Run(store, remote).handle(ds.id)
    finally:
        await store.close()
    assert after.state == "submitted"
    method = remote.params["method"]
    assert method == {
        "type": "reinforcement",
        "reinforcement": {
            "grader": grader,
            "hyperparameters": {"n_epochs": 2, "reasoning_effort": "low", "eval_samples": 3},
        },
    }
    # The emulator, as OpenAI before the retirement, takes that body for o4-mini.
    accepted = parse_job_request(
        {**remote.params, "model": "o4-mini-2025-04-16"},
        file_purpose=lambda _file: "fine-tune",
        resolve_model=lambda name: name,
        rng=random.Random(1),
    )
    assert accepted.method == "reinforcement"
    assert accepted.method_extra["grader"] == grader
    assert accepted.hyperparameters["eval_samples"] == 3
