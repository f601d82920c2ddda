"""The recorder: keeps a retiring model's answers before its provider shuts it down.

Each turn it looks at every fine-tuned model ftd made that still answers and
whose dataset held out a test split; when the model's base stops serving
within ``evaluation.record_days_before`` days, it queues a recording of the
model's answers to that test split (named after the model, once: the name is
unique). Then it runs the queued and interrupted recordings, one at a time,
through the evaluation service's requester (its limits, retries and cache),
so a recording never competes unbounded with evaluations for a model.

A base's shutdown date comes from ``evaluation.shutdown_dates``, else from the
provider's own list (an OpenAI profile's is the dates OpenAI announced, kept in
ftd's catalogue). Models that retire within the
warning horizon and have no finished recording are kept in ``unrecorded``
for ``ftd status``.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from ftd import catalog
from ftd.errors import FtdError, RemoteError
from ftd.evaluation.recorded import Recording, recording_params
from ftd.logs import get_logger
from ftd.store import recordings as rows_of
from ftd.store import states

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus

    from ftd.config import Settings
    from ftd.evaluation.service import EvaluationService
    from ftd.providers import Providers
    from ftd.store import Store
    from ftd.store.recordings import RecordingRow

log = get_logger("ftd.daemon.recorder")
WARNING_DAYS = 30  # as the tracker's warning about retiring bases
DATES_REFRESH_SECONDS = 3600.0
BUG_RETRY_SECONDS = 300.0  # also how long a recording waiting for a deployment waits


@dataclass(frozen=True, slots=True)
class Retiring:
    """A model ftd made whose base has a shutdown date."""

    model: str
    base: str
    job_id: str
    provider: str
    dataset_id: int
    test_file: str
    settings: str | None
    shutdown_date: str
    days_left: int


def shutdown_date(model: str, overrides: dict[str, str], listed: dict[str, str]) -> str | None:
    """The day ``model``'s base stops serving, if anyone says: configuration, then the
    provider (an OpenAI profile speaks with the catalogue's announced dates)."""
    base = catalog.base_name(model)
    entry = catalog.lookup(model)
    family = entry.family if entry is not None else None
    for source in (overrides, listed):
        for name in (base, family):
            if name is not None and name in source:
                return source[name]
    return None


class Recorder:
    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        evaluations: EvaluationService,
        providers: Providers,
        *,
        scan_seconds: float = 30.0,
        today: Callable[[], datetime.date] = lambda: datetime.datetime.now(datetime.UTC).date(),
    ) -> None:
        self._store = store
        self._settings = settings
        self._evaluations = evaluations
        self._providers = providers
        self._scan = scan_seconds
        self._today = today
        self._wakeup = anyio.Event()
        self._listed: dict[str, dict[str, str]] = {}
        self._listed_at: dict[str, float] = {}
        self._postponed: dict[int, float] = {}
        self.unrecorded: list[dict[str, Any]] = []
        self._recording = Recording(
            store,
            lambda: evaluations.requester,
            evaluations.pricing,
            in_flight_for=lambda model: settings().evaluation.concurrency_for(model),
        )

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self._wakeup = anyio.Event()
            try:
                await self.queue_retiring()
            except Exception:
                log.exception("recorder_scan_error")
            await self._run_due()
            with anyio.move_on_after(self._scan):
                await self._wakeup.wait()

    async def can_ask(self, row: RecordingRow) -> bool:
        """Whether the model answers at its profile now: where the provider serves a
        fine-tuned model only once deployed, a deployment must be ready (or named in
        the profile's ``deployments``)."""
        provider = self._providers.get(row.provider)
        if not provider.capabilities.needs_deployment:
            return True
        if row.model in self._settings().profile(row.provider).azure.deployments:
            return True
        found = await self._store.read(
            "SELECT 1 FROM deployments WHERE provider = ? AND model = ? AND state = 'ready'",
            (row.provider, row.model),
        )
        return bool(found)

    async def _run_due(self) -> None:
        now = anyio.current_time()
        for row in await rows_of.to_run(self._store):
            if self._postponed.get(row.id, -math.inf) > now:
                continue
            if not await self.can_ask(row):
                log.warning(
                    "recording_waits_for_deployment",
                    recording_id=row.id,
                    model=row.model,
                    provider=row.provider,
                    hint="the model answers only while deployed: `ftd keep MODEL` keeps its "
                    "deployment after its evaluation, or name one under deployments",
                )
                self._postponed[row.id] = now + BUG_RETRY_SECONDS
                continue
            try:
                await self._evaluations.route_model(row.model, row.provider)
                await self._recording.run(row)
            except Exception:
                # A bug, not the provider's answer: the daemon goes on, and so does
                # this recording later (its asked items stay asked).
                log.exception("recording_error", recording_id=row.id)
                self._postponed[row.id] = anyio.current_time() + BUG_RETRY_SECONDS

    async def still_unrecorded(self) -> list[dict[str, Any]]:
        """``unrecorded`` as the database has it now: a model whose recording finished
        since the last scan is no longer in it, and each one's recording is as it is."""
        current: list[dict[str, Any]] = []
        for model in self.unrecorded:
            held = await rows_of.of_model(self._store, model["model"])
            if any(r.status == rows_of.SUCCEEDED for r in held):
                continue
            current.append({**model, "recording": held[-1].brief() if held else None})
        return current

    async def _dates_at(self, profile: str) -> dict[str, str]:
        """The provider's own shutdown dates, read at most hourly; none if it will not say."""
        now = anyio.current_time()
        if now - self._listed_at.get(profile, -math.inf) < DATES_REFRESH_SECONDS:
            return self._listed.get(profile, {})
        try:
            listed = await self._providers.get(profile).retirements()
        except (RemoteError, FtdError) as exc:
            log.info("retirement_dates_unavailable", provider=profile, error=str(exc))
            listed = self._listed.get(profile, {})
        self._listed[profile], self._listed_at[profile] = listed, now
        return listed

    async def retiring(self) -> list[Retiring]:
        """Every model ftd made that still answers and whose base has a shutdown date."""
        overrides = dict(self._settings().evaluation.shutdown_dates)
        today = self._today()
        rows = await self._store.read(
            "SELECT j.job_id, j.provider, j.model AS base, j.fine_tuned_model AS model, "
            "j.dataset_id, s.path AS test_file, d.settings FROM jobs j "
            "JOIN splits s ON s.dataset_id = j.dataset_id AND s.side = 'test' "
            "AND s.examples > 0 JOIN datasets d ON d.id = j.dataset_id "
            "WHERE j.status = ? AND j.fine_tuned_model IS NOT NULL "
            "AND j.model_ready_at IS NOT NULL AND j.model_deleted_at IS NULL ORDER BY j.id",
            (states.JOB_SUCCEEDED,),
        )
        found: list[Retiring] = []
        for row in rows:
            listed = await self._dates_at(str(row["provider"]))
            day = shutdown_date(str(row["base"]), overrides, listed)
            if day is None:
                continue
            try:
                left = (datetime.date.fromisoformat(day) - today).days
            except ValueError:
                continue
            found.append(
                Retiring(
                    model=str(row["model"]),
                    base=str(row["base"]),
                    job_id=str(row["job_id"]),
                    provider=str(row["provider"]),
                    dataset_id=int(row["dataset_id"]),
                    test_file=str(row["test_file"]),
                    settings=row["settings"],
                    shutdown_date=day,
                    days_left=left,
                )
            )
        return found

    async def queue_retiring(self) -> list[int]:
        """Queue a recording of each model due for one; note those retiring unrecorded."""
        ahead = self._settings().evaluation.record_days_before
        queued: list[int] = []
        unrecorded: list[dict[str, Any]] = []
        for model in await self.retiring():
            if model.days_left < 0:
                continue  # gone already: nothing can be asked of it any more
            held = await rows_of.of_model(self._store, model.model)
            if ahead > 0 and model.days_left <= ahead and not held:
                new_id = await self._queue(model)
                if new_id is not None:
                    queued.append(new_id)
                    log.info(
                        "recording_due",
                        model=model.model,
                        shutdown=model.shutdown_date,
                        days_left=model.days_left,
                        recording_id=new_id,
                    )
                held = await rows_of.of_model(self._store, model.model)
            done = any(r.status == rows_of.SUCCEEDED for r in held)
            if not done and model.days_left <= max(WARNING_DAYS, ahead):
                unrecorded.append(
                    {
                        "model": model.model,
                        "base": model.base,
                        "shutdown_date": model.shutdown_date,
                        "days_left": model.days_left,
                        "recording": held[-1].brief() if held else None,
                    }
                )
        self.unrecorded = unrecorded
        return queued

    async def _queue(self, model: Retiring) -> int | None:
        settings = self._evaluations.settings_for_dataset(model.settings)
        return await rows_of.create(
            self._store,
            name=model.model,
            model=model.model,
            provider=model.provider,
            test_file=model.test_file,
            params=recording_params(settings),
            origin=rows_of.ORIGIN_RETIREMENT,
            dataset_id=model.dataset_id,
            job_id=model.job_id,
            shutdown_date=model.shutdown_date,
        )

    async def request(
        self,
        *,
        model: str,
        name: str | None,
        test_file: str,
        provider: str,
        dataset_id: int | None = None,
        job_id: str | None = None,
        dataset_settings: str | None = None,
    ) -> RecordingRow:
        """Queue a recording asked for by hand; its row. The name must be free."""
        settings = self._evaluations.settings_for_dataset(dataset_settings)
        chosen = name or model
        new_id = await rows_of.create(
            self._store,
            name=chosen,
            model=model,
            provider=provider,
            test_file=test_file,
            params=recording_params(settings),
            origin=rows_of.ORIGIN_REQUEST,
            dataset_id=dataset_id,
            job_id=job_id,
        )
        if new_id is None:
            raise RecordingNameTaken(chosen)
        self.wake()
        row = await rows_of.get(self._store, new_id)
        assert row is not None
        return row


class RecordingNameTaken(FtdError):
    """Recordings are kept by name; a second one cannot take a name in use."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a recording named {name!r} exists already; choose another --name")
        self.name = name
