"""From a ready dataset to a fine-tuning job, exactly once whatever fails or dies.

Uploads: the intent row (with the file name, which carries the dataset's hash
and tag) is written before the request; an intent found already written means
an earlier attempt may have got through, so the file is looked up by name
before it is sent again. Jobs: the dataset's ``creating_job`` state is the
intent; every attempt first lists jobs by the dataset's tag in ``metadata``.

A create that fails in doubt (network, 5xx, a 429 with a short wait) is
looked up and sent again at once, a couple of times, seconds apart, before
the dataset's own back-off (minutes, then hours) takes over: a provider that
fails one request in three costs a few seconds, while an outage still waits
hours before the dataset fails. Each file uploaded and the move to job
creation start that back-off afresh, since it measures how long one step
has been failing. A refusal becomes a state: caps wait, ``training_not_available`` blocks, a
wrong request or a billing problem fails with the provider's message.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ftd import catalog
from ftd.config.integrations import Integration
from ftd.config.reinforcement import Reinforcement
from ftd.config.together import TogetherRun
from ftd.daemon import preflight
from ftd.errors import RemoteError
from ftd.logs import get_logger
from ftd.profiles import DEFAULT_PROFILE
from ftd.providers import Providers
from ftd.providers.core import JobRequest
from ftd.providers.kinds import BLOCKED, CAPPED, RATE_LIMITED, TRANSIENT, backoff
from ftd.store import states
from ftd.tags import INSTANCE_KEY, TAG_KEY, dataset_tag, upload_name

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ftd.providers import Provider, RemoteFile, RemoteJob
    from ftd.store import DatasetRow, Store

T = TypeVar("T")
log = get_logger("ftd.daemon.submit")

# Transient failures (network, 5xx, 429 rate limits) are retried this many times
# with growing waits (about four hours in all) before the dataset fails; the
# uploads and the job's creation each have that many.
MAX_ATTEMPTS = 12
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 1800.0
# Within one attempt, a create in doubt is sent this many times in all, looked up
# before each resend, unless the provider asks for a longer wait than the last.
SENDS_PER_ATTEMPT = 3
RESEND_BASE_SECONDS = 1.0
RESEND_MAX_SECONDS = 5.0
# The provider's job caps clear when jobs finish or the day turns: wait, never fail.
CAP_BASE_SECONDS = 60.0
CAP_MAX_SECONDS = 3600.0
FILE_READY_POLL_SECONDS = 2.0
UPLOAD_SIDES = ("train", "validation")


class _Held(Exception):
    """The provider's price sent the dataset back for approval; nothing was created."""


def _wait(attempt: int, base: float, ceiling: float, hint: float | None) -> float:
    """The back-off, never shorter than what the provider asked for."""
    return max(backoff(attempt, base, ceiling, jitter=0.2), hint or 0.0)


class Submitter:
    def __init__(
        self,
        store: Store,
        providers: Providers | Provider,
        *,
        on_submitted: Callable[[], None],
        file_ready_timeout: float = 600.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._store = store
        self._providers = providers
        self._on_submitted = on_submitted
        self._file_ready_timeout = file_ready_timeout
        self._sleep = sleep

    async def handle(self, row: DatasetRow) -> None:
        if row.state == states.READY:
            if not await self._store.transition(row.id, states.READY, states.UPLOADING):
                return
            row = await self._reload(row)
        try:
            if row.state == states.UPLOADING:
                await preflight.check_model(self._at(row), str((row.settings or {})["model"]))
                file_ids = await self._upload(row)
                # The job's creation gets its own attempts: the back-off measures how long
                # one step has been failing, not what the uploads went through before it.
                if not await self._store.transition(
                    row.id, states.UPLOADING, states.CREATING_JOB, detail=file_ids, attempts=0
                ):
                    return
                row = await self._reload(row)
            if row.state == states.CREATING_JOB:
                await self._create_job(row)
        except _Held as held:
            log.info("job_create_held", dataset_id=row.id, reason=str(held))
        except RemoteError as error:
            await self._refused(row, error)

    def _at(self, row: DatasetRow) -> Provider:
        """The provider the dataset's run goes to (its sidecar's profile, else the default)."""
        profile = (row.settings or {}).get("provider") or DEFAULT_PROFILE
        if isinstance(self._providers, Providers):
            return self._providers.get(str(profile))
        return self._providers

    async def _reload(self, row: DatasetRow) -> DatasetRow:
        fresh = await self._store.dataset(row.id)
        assert fresh is not None
        return fresh

    async def _upload(self, row: DatasetRow) -> dict[str, str]:
        splits = await self._store.splits(row.id)
        file_ids: dict[str, str] = {}
        processed: set[str] = set()  # sides whose file the provider has already checked
        for side in UPLOAD_SIDES:
            split = splits.get(side)
            if split is None or split.examples == 0:
                continue
            path = Path(split.path)
            name = upload_name(row, side)
            size = (await anyio.Path(path).stat()).st_size
            intent, existed = await self._store.upload_intent(row.id, side, name, size)
            file_id = intent.file_id
            if file_id is None:
                send = partial(self._send_file, row, side, path, name, size)
                file = await self._resent(row, "upload_file", send, doubt=existed)
                file_id = file.id
                if file.status == "processed":
                    processed.add(side)
                await self._store.record_upload(row.id, side, file_id)
            file_ids[side] = file_id
        for side, file_id in file_ids.items():
            if side not in processed:
                await self._wait_processed(row, side, file_id)
        return file_ids

    async def _send_file(
        self, row: DatasetRow, side: str, path: Path, name: str, size: int, doubt: bool
    ) -> RemoteFile:
        """The file an earlier send may have made, else a new one."""
        if doubt:
            found = await self._at(row).find_file(name)
            if found is not None:
                log.info("upload_found", dataset_id=row.id, side=side, file_id=found.id)
                return found
        log.info("upload_started", dataset_id=row.id, side=side, bytes=size, name=name)
        return await self._at(row).upload(path, name)

    async def _resent(
        self,
        row: DatasetRow,
        operation: str,
        send: Callable[[bool], Awaitable[T]],
        *,
        doubt: bool,
    ) -> T:
        """``send(doubt)`` until it succeeds, a few times at most; each resend is in doubt."""
        for sent in range(1, SENDS_PER_ATTEMPT + 1):
            try:
                return await send(doubt)
            except RemoteError as error:
                if sent == SENDS_PER_ATTEMPT or error.kind not in (TRANSIENT, RATE_LIMITED):
                    raise
                delay = _wait(sent - 1, RESEND_BASE_SECONDS, RESEND_MAX_SECONDS, error.retry_after)
                if delay > RESEND_MAX_SECONDS:
                    raise
                log.info(
                    "create_resend",
                    dataset_id=row.id,
                    operation=operation,
                    error=str(error),
                    sent=sent,
                    delay=round(delay, 2),
                )
                doubt = True
                await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _wait_processed(self, row: DatasetRow, side: str, file_id: str) -> None:
        """The provider checks a file before a job may use it; wait for its verdict."""
        deadline = time.monotonic() + self._file_ready_timeout
        while True:
            info = await self._at(row).file(file_id)
            if info.status == "processed":
                return
            if info.status == "error":
                raise RemoteError(
                    "upload_file",
                    f"the provider refused the {side} file {file_id}: "
                    f"{info.status_details or 'no details'}",
                    kind="invalid",
                )
            if time.monotonic() > deadline:
                raise RemoteError(
                    "upload_file",
                    f"file {file_id} still {info.status} after {self._file_ready_timeout:g} s",
                    kind=TRANSIENT,
                    retryable=True,
                )
            log.debug("upload_processing", dataset_id=row.id, file_id=file_id, status=info.status)
            await anyio.sleep(FILE_READY_POLL_SECONDS)

    async def _create_job(self, row: DatasetRow) -> None:
        job = await self._resent(
            row, "create_job", lambda _doubt: self._find_or_create_job(row), doubt=True
        )
        if await self._store.add_job(
            row.id,
            expected=states.CREATING_JOB,
            job_id=job.id,
            status=job.status,
            model=job.model,
            metadata=dict(job.metadata or {}),
            provider=self._at(row).profile,
        ):
            self._on_submitted()

    async def _find_or_create_job(self, row: DatasetRow) -> RemoteJob:
        """The job the dataset's tag finds (an earlier send may have made it), else a new one."""
        provider = self._at(row)
        existing = await provider.find_jobs(TAG_KEY, dataset_tag(row))
        if existing:
            job = existing[-1]  # the oldest: if ever two, the first is the one to keep
            log.info("job_found", dataset_id=row.id, job_id=job.id, matches=len(existing))
            return job
        request = await self._job_request(row)
        estimate = await preflight.priced(provider, request, row)
        if estimate is not None:
            held = await self._price_recorded(row, estimate)
            if held:
                raise _Held(estimate.hold or "")
        log.info(
            "job_create_sent", dataset_id=row.id, model=request.model, provider=provider.profile
        )
        return await provider.create_job(request)

    async def _price_recorded(self, row: DatasetRow, estimate: preflight.Priced) -> bool:
        """Keep the provider's figure; True if the dataset now waits for approval with it."""
        state = states.AWAITING_APPROVAL if estimate.hold else states.CREATING_JOB
        moved = await self._store.transition(
            row.id,
            states.CREATING_JOB,
            state,
            report=estimate.report,
            estimated_cost_usd=estimate.usd,
            detail={"provider_estimate_usd": estimate.usd},
        )
        if moved and estimate.hold:
            log.warning(
                "approval_needed", dataset_id=row.id, reason=estimate.hold, approve_by="ftd approve"
            )
        return moved and estimate.hold is not None

    async def _job_request(self, row: DatasetRow) -> JobRequest:
        settings = row.settings or {}
        uploads = await self._store.uploads(row.id)
        train = uploads["train"].file_id
        assert train is not None
        method = settings.get("method", "supervised")
        hyperparameters = {
            key: value
            for key, value in (settings.get("hyperparameters") or {}).items()
            if value != "auto"
        }
        body: dict[str, Any] = {"type": method}
        if hyperparameters:
            body[method] = {"hyperparameters": hyperparameters}
        if method == catalog.REINFORCEMENT and settings.get("reinforcement"):
            # The grader, response format and RFT hyperparameters; checked at validation.
            rft = Reinforcement.model_validate(settings["reinforcement"]).method_body()
            rft["hyperparameters"] = {**hyperparameters, **rft.get("hyperparameters", {})}
            if not rft["hyperparameters"]:
                del rft["hyperparameters"]
            body[method] = rft
        metadata = {
            **(settings.get("metadata") or {}),
            INSTANCE_KEY: await self._store.instance(),
            TAG_KEY: dataset_tag(row),
        }
        validation = uploads.get("validation")
        extra: dict[str, Any] = (
            {"training_type": settings["training_type"]} if settings.get("training_type") else {}
        )
        if settings.get("together"):
            extra["together"] = TogetherRun.model_validate(settings["together"]).request()
        return JobRequest(
            model=settings["model"],
            training_file=train,
            method=body,
            metadata=metadata,
            validation_file=validation.file_id if validation is not None else None,
            suffix=settings.get("suffix"),
            seed=settings.get("seed"),
            extra=extra,
            # W&B as OpenAI takes it; the W&B key is registered with the provider, never sent.
            integrations=[
                Integration.model_validate(entry).request()
                for entry in settings.get("integrations") or []
            ]
            or None,
        )

    async def _refused(self, row: DatasetRow, error: RemoteError) -> None:
        """Turn a failed call into the dataset's next state or its next attempt."""
        fresh = await self._reload(row)
        message = str(error)
        if error.kind == BLOCKED:
            await self._store.transition(
                row.id,
                fresh.state,
                states.BLOCKED,
                error=message,
                detail={"code": error.code, "status": error.status},
            )
        elif error.kind == CAPPED:
            delay = _wait(fresh.attempts, CAP_BASE_SECONDS, CAP_MAX_SECONDS, error.retry_after)
            await self._store.postpone(row.id, time.time() + delay, message)
        elif error.kind in (TRANSIENT, RATE_LIMITED) and fresh.attempts + 1 < MAX_ATTEMPTS:
            delay = _wait(fresh.attempts, RETRY_BASE_SECONDS, RETRY_MAX_SECONDS, error.retry_after)
            await self._store.postpone(row.id, time.time() + delay, message)
        else:
            await self._store.transition(
                row.id,
                fresh.state,
                states.FAILED,
                error=message,
                detail={"code": error.code, "status": error.status, "kind": error.kind},
            )
