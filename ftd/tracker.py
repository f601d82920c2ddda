"""Following every unfinished job to its end, and keeping all it tells, with few requests.

One cycle: list this installation's jobs by their ``ftd_instance`` metadata,
100 a page, newest first, until every unfinished job has been seen (a job
the list does not show, such as an adopted one, is retrieved by id,
``ceil(N / 100)`` a cycle, so a failing list costs no more), and
commit the statuses at once. Then events, a page (100) per job: for each
job that changed, and for ``ceil(N / 100)`` more, least recently read first,
among running jobs and jobs with events still unread. Reading backwards
from the newest, a read that does not reach the events already stored
leaves a cursor, and the next read continues there; so a cycle costs about
``2 * ceil(N / 100)`` requests plus one per changed job, whatever the
backlog, and every event is stored once, eventually. Checkpoints are read
when an event announces one or the job ends; a finished job's result file
is parsed, and its new model is probed until it answers. A job whose end was
committed without its last events and checkpoints (a crash, or a read that
failed, just after) is read again until they are stored.

Intervals adapt: a cycle comes sooner while a job is new, near its
estimated finish or behind on events, later while all are queued; every
wait has jitter.
"""

from __future__ import annotations

import datetime
import math
import random
import time
from typing import TYPE_CHECKING

import anyio

from ftd import catalog
from ftd.errors import FtdError, RemoteError
from ftd.figures import believable_job
from ftd.logs import get_logger
from ftd.profiles import DEFAULT_PROFILE
from ftd.providers import Providers
from ftd.providers.bodies import TOO_LARGE
from ftd.providers.kinds import NOT_FOUND
from ftd.results import ResultFileError, fetch_result_file
from ftd.store import states
from ftd.store.followed import FollowedJobs
from ftd.store.tracking import CheckpointRow, Cycle, EventRow, JobUpdate, MetricRow
from ftd.tags import INSTANCE_KEY

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import TaskStatus

    from ftd.config import Settings
    from ftd.providers import JobEvent, Provider, RemoteJob
    from ftd.store import JobRow, Store

log = get_logger("ftd.tracker")
PAGE = 100
# A walk through a profile's job list reads at most ceil(N / 100) pages and this many more.
MAX_EXTRA_PAGES = 10
MAX_CHECKPOINT_PAGES = 20
DETAIL_BATCH = 50
# A cycle reads the newest events of at most max(ceil(N / 100), this) changed jobs.
CHANGED_READS = 100
# Event reads after the first batch start only within this share of the poll interval.
DETAIL_SHARE = 0.5
# The least share of its interval a cycle rests after one that took longer than it.
MIN_REST = 0.1
NEW_JOB_SECONDS = 120.0
RETIREMENT_WARNING_DAYS = 30
RETIREMENT_CHECK_SECONDS = 24 * 3600.0
_METRIC_KEYS = {
    "train_loss": "train_loss",
    "train_mean_token_accuracy": "train_accuracy",
    "valid_loss": "valid_loss",
    "valid_mean_token_accuracy": "valid_accuracy",
    "full_valid_loss": "full_valid_loss",
    "full_valid_mean_token_accuracy": "full_valid_accuracy",
}
_QUIET = frozenset({states.JOB_VALIDATING_FILES, states.JOB_QUEUED, states.JOB_PAUSED})
# An events cursor that names no event: the older events are all read, the newest are due.
NEWEST_UNREAD = ""


def is_final(status: str) -> bool:
    """Unknown status strings are not final: keep following the job."""
    return status in states.JOB_FINAL


class Tracker:
    def __init__(
        self,
        store: Store,
        providers: Providers | Provider,
        *,
        poll_seconds: float,
        on_finished: Callable[[], Awaitable[None]],
        price_per_mtok: Callable[[str], float | None] = lambda _model: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._providers = providers
        self._poll = poll_seconds
        self._on_finished = on_finished
        self._price = price_per_mtok
        self._clock = clock
        self._wakeup = anyio.Event()
        self._instance: str | None = None  # constant for a database; read once
        self._retirement_checked = -math.inf
        self.retiring: dict[str, str] = {}  # model -> shutdown date, for status displays
        self.shutdown_dates: dict[str, str] = {}  # every announced date of a model in use
        self.not_served: list[str] = []  # base models in use that the provider no longer lists
        self.last_cycle: dict[str, int] = {}
        self._retrieved_at: dict[str, float] = {}  # job -> when last asked for by id
        self._jobs = FollowedJobs(store)
        self._followed: list[JobRow] = []  # the unfinished jobs the last cycle read
        # How much longer to wait between polls (provider webhooks arriving say when to look).
        self.slowdown: Callable[[], float] = lambda: 1.0

    def wake(self) -> None:
        self._wakeup.set()

    def _at(self, profile: str | None) -> Provider:
        """The provider a job lives at (a lone provider serves every profile)."""
        providers = self._providers
        if isinstance(providers, Providers):
            return providers.get(profile)
        return providers

    def reconfigure(self, settings: Settings) -> None:
        """A reload's new interval applies from the next wait on."""
        self._poll = settings.tracker.poll_seconds

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self._wakeup = anyio.Event()
            began = time.monotonic()
            try:
                await self.cycle()
            except Exception:
                # A bug must not stop the tracking of every other job, nor the daemon.
                log.exception("tracker_error")
            active = self._followed
            if time.monotonic() - self._retirement_checked > RETIREMENT_CHECK_SECONDS:
                await self.check_retirements()
            # Cycles start an interval apart, however long one took (a long one is
            # followed by a short rest), so a change waits one interval, not two.
            interval = self.interval(active)
            spent = time.monotonic() - began
            with anyio.move_on_after(max(interval * MIN_REST, interval - spent)):
                await self._wakeup.wait()

    def interval(self, active: list[JobRow]) -> float:
        """Sooner while a job is new or about to finish, later while all are waiting."""
        now = self._clock()
        wait = self._poll * 2 if active and all(j.status in _QUIET for j in active) else self._poll
        for job in active:
            if job.events_cursor is not None:
                wait = min(wait, self._poll / 3)  # events still to catch up on
            new = now - job.created_at < NEW_JOB_SECONDS
            ending = job.estimated_finish is not None and job.estimated_finish - now < self._poll
            if new or ending:
                wait = min(wait, self._poll / 3)
        return max(0.05, wait * self.slowdown() * random.uniform(0.9, 1.1))

    # ------------------------------------------------------------------ one cycle

    async def cycle(self, active: list[JobRow] | None = None) -> None:
        """Look at every unfinished job once and write what was learned.

        Statuses are committed page by page as the list is walked, so a change
        reaches the database one list call after the page that shows it, not
        after the whole walk (100 pages at 10,000 jobs); events are then read
        and committed in batches of jobs, which bounds the memory a cycle holds
        whatever the backlog.
        """
        # Timed from the read of the rows: at 10,000 jobs it is a share of the cycle's CPU.
        started, cpu = time.perf_counter(), time.process_time()
        self._followed = await self._jobs.rows() if active is None else active
        jobs = [*self._followed, *await self._store.unsettled_jobs()]
        requests = {"list": 0, "retrieve": 0, "events": 0, "checkpoints": 0, "other": 0}
        rows = {r.job_id: r for r in jobs}
        status = Cycle()
        changed: list[JobRow] = []
        finished: list[str] = []

        async def commit(views: list[RemoteJob]) -> None:
            """The statuses one page (or the jobs retrieved by id) changed, committed now."""
            batch = Cycle()
            for job in views:
                row = rows[job.id]
                if _unchanged(row, job) and not (is_final(row.status) and row.finished_at is None):
                    continue  # the common case, 10,000 a cycle: no update built to compare
                job = await believable_job(self._store, self._at(row.provider), row, job)
                update = self._update(row, job)
                if _differs(row, update) or (is_final(row.status) and row.finished_at is None):
                    batch.updates.append(update)
                    changed.append(row)
            if batch.updates:
                finished.extend(await self._store.record_cycle(batch))
                status.updates.extend(batch.updates)

        remote = await self._remote_views(jobs, requests, commit) if jobs else {}
        # Each job that changed gets its newest page of events; then a budget of
        # ceil(N / 100) pages goes, least recently read first, to running jobs and to
        # jobs with unread events left (which may have finished meanwhile).
        budget = math.ceil(len(jobs) / PAGE)
        changed_ids = {r.job_id for r in changed}
        candidates = {
            r.job_id: r
            for r in jobs
            if r.job_id not in changed_ids
            and r.job_id in remote
            and remote[r.job_id].status == states.JOB_RUNNING
        }
        # Events left to read: the unfinished jobs' rows above say so; the ended are asked for.
        gaps = [r for r in jobs if r.events_cursor is not None]
        for row in [*gaps, *await self._store.ended_jobs_with_event_gap()]:
            if row.job_id not in changed_ids:
                candidates.setdefault(row.job_id, row)
        # A job whose events back off from a lasting error must not take the others' turn.
        due = [r for r in candidates.values() if self._events_due(r)]
        steady = sorted(due, key=_last_read)[: max(budget, 1)]
        # After a mass change the changed jobs' reads are capped, least recently read
        # first; the rest are owed their newest page (a cursor says so) and compete
        # for the budget in the next cycles, so one cycle never reads thousands.
        changed = sorted(changed, key=_last_read)
        work = [*changed[: max(budget, CHANGED_READS)], *steady]
        extras = Cycle()
        owed = changed[max(budget, CHANGED_READS) :]
        stored = 0
        reads_end = time.perf_counter() + self._poll * DETAIL_SHARE
        for first in range(0, len(work), DETAIL_BATCH):
            if first and time.perf_counter() > reads_end:
                owed.extend(r for r in work[first:] if r.job_id in changed_ids)
                break
            batch = Cycle()
            async with anyio.create_task_group() as tg:
                for row in work[first : first + DETAIL_BATCH]:
                    tg.start_soon(self._details, row, remote.get(row.job_id), batch, requests)
            await self._store.record_cycle(batch)
            stored += len(batch.events)
        extras.cursors.update((r.job_id, NEWEST_UNREAD) for r in owed if r.events_cursor is None)
        await self._finished_extras(extras, requests)
        await self._store.record_cycle(extras)
        self.last_cycle = {**requests, "jobs": len(jobs), "changed": len(changed)}
        if jobs:
            log.debug(
                "tracker_cycle",
                **self.last_cycle,
                events_stored=stored,
                events_owed=len(owed),
                seconds=round(time.perf_counter() - started, 3),
                cpu_seconds=round(time.process_time() - cpu, 3),
            )
        if finished:
            for job_id in finished:
                final = next(u.status for u in status.updates if u.job_id == job_id)
                log.info("job_finished", job_id=job_id, status=final)
            await self._on_finished()

    def _events_due(self, row: JobRow) -> bool:
        return self._at(row.provider).health.due("list_events", row.job_id)

    async def _remote_views(
        self,
        jobs: list[JobRow],
        requests: dict[str, int],
        commit: Callable[[list[RemoteJob]], Awaitable[None]],
    ) -> dict[str, RemoteJob]:
        """Every job's remote view, each profile's read side by side; each page's views
        are handed to ``commit`` as they come, once per job.

        One provider failing or slow holds up only its own jobs' views.
        """
        by_profile: dict[str, list[JobRow]] = {}
        for job in jobs:
            by_profile.setdefault(job.provider, []).append(job)
        seen: dict[str, RemoteJob] = {}
        if len(self._retrieved_at) > 2 * len(jobs) + PAGE:
            following = {j.job_id for j in jobs}
            self._retrieved_at = {k: v for k, v in self._retrieved_at.items() if k in following}
        if self._instance is None:
            self._instance = await self._store.instance()
        async with anyio.create_task_group() as tg:
            for profile, rows in by_profile.items():
                tg.start_soon(self._views_at, profile, rows, seen, requests, commit)
        return seen

    async def _views_at(
        self,
        profile: str,
        jobs: list[JobRow],
        seen: dict[str, RemoteJob],
        requests: dict[str, int],
        commit: Callable[[list[RemoteJob]], Awaitable[None]],
    ) -> None:
        provider = self._at(profile)
        wanted = {j.job_id for j in jobs}
        instance = self._instance
        assert instance is not None
        after: str | None = None
        cursors: set[str] = set()
        found: set[str] = set()  # counted as pages come, not a set difference of every job
        try:
            for _ in range(math.ceil(len(wanted) / PAGE) + MAX_EXTRA_PAGES):
                if len(found) == len(wanted):
                    break
                requests["list"] += 1
                page, more = await provider.jobs_page({INSTANCE_KEY: instance}, after)
                fresh: list[RemoteJob] = []
                for job in page:
                    # A list that ignores the filter must not make another's job ours.
                    ours = job.metadata.get(INSTANCE_KEY) in (instance, None)
                    if job.id in wanted and ours and job.id not in found:
                        found.add(job.id)
                        seen[job.id] = job
                        fresh.append(job)
                await commit(fresh)
                if not more or not page:
                    break
                after = page[-1].id
                if after in cursors:
                    log.warning("remote_cursor_stuck", provider=profile, operation="list_jobs")
                    provider.health.note("remote_cursor_stuck", "list_jobs")
                    break
                cursors.add(after)
        except RemoteError:
            pass  # logged by the client; the jobs not seen are retrieved one by one below
        # By id, ceil(N / 100) a cycle, the longest unasked first: a list that fails
        # must not turn into one request per job (10,000 at once at a large site).
        missing = sorted(
            (j for j in jobs if j.job_id not in seen),
            key=lambda j: self._retrieved_at.get(j.job_id, 0.0),
        )[: math.ceil(len(jobs) / PAGE)]

        async def retrieve(job_id: str) -> None:
            if not provider.health.due("retrieve_job", job_id):
                return  # a lasting error backs off
            requests["retrieve"] += 1
            self._retrieved_at[job_id] = time.monotonic()
            try:
                seen[job_id] = await provider.job(job_id)
            except RemoteError:
                return  # one job's trouble never stalls the others

        async with anyio.create_task_group() as tg:
            for absent in missing:
                tg.start_soon(retrieve, absent.job_id)
        await commit([seen[j.job_id] for j in missing if j.job_id in seen])

    def _update(self, row: JobRow, job: RemoteJob) -> JobUpdate:
        error = job.error
        code = error.code if error is not None and error.code else None
        cost = None
        # Asked only for a job with tokens: a price is built from the settings each time,
        # and 10,000 running jobs have none.
        price = self._price(row.model) if job.trained_tokens is not None else None
        if job.trained_tokens is not None and price is not None:
            cost = round(job.trained_tokens * price / 1_000_000, 4)
        return JobUpdate(
            job_id=row.job_id,
            status=job.status,
            fine_tuned_model=job.fine_tuned_model,
            trained_tokens=job.trained_tokens,
            estimated_finish=float(job.estimated_finish) if job.estimated_finish else None,
            error_code=code,
            error_message=(error.message or None) if error is not None and code else None,
            error_param=(error.param or None) if error is not None and code else None,
            result_files=list(job.result_files or []) or None,
            cost_usd=cost,
        )

    async def _details(
        self,
        row: JobRow,
        job: RemoteJob | None,
        cycle: Cycle,
        requests: dict[str, int],
    ) -> None:
        """A page of new events (and metrics in them); checkpoints when announced or at the end."""
        if not self._events_due(row):
            return  # a lasting error backs off
        try:
            fresh, cursor = await self._new_events(row, 1, requests)
        except RemoteError:
            return
        if cursor != row.events_cursor:
            cycle.cursors[row.job_id] = cursor
        # Pages come newest first; stored oldest first, events of one second keep their order.
        cycle.events.extend(reversed(fresh))
        for event in fresh:
            data = event.data or {}
            if event.type == "metrics" and isinstance(data.get("step"), int):
                figures: dict[str, float | None] = {
                    name: float(data[key])
                    for key, name in _METRIC_KEYS.items()
                    if isinstance(data.get(key), int | float)
                }
                cycle.metrics.append(MetricRow(row.job_id, data["step"], figures, "event"))
        announced = any("checkpoint" in e.message.lower() for e in fresh)
        status = job.status if job is not None else row.status
        if announced or is_final(status) or status == states.JOB_PAUSED:
            try:
                cycle.checkpoints.extend(await self._checkpoints(row, requests))
            except RemoteError:
                return  # not marked as read: a finished job is read again next cycle
        cycle.detailed.append(row.job_id)

    async def _new_events(
        self, row: JobRow, pages: int, requests: dict[str, int]
    ) -> tuple[list[EventRow], str | None]:
        """Unstored events, reading at most ``pages`` pages; and the cursor of what is left.

        Events come newest first and ``after`` pages toward older ones. A read
        that runs out of pages before meeting a stored event leaves one gap,
        remembered by its cursor; the next read closes that gap first, then
        reads the newest (in the same read if pages are left, else in the next,
        the cursor saying so with ``NEWEST_UNREAD``), so there is never more than
        one gap.
        """
        found: list[EventRow] = []
        used = 0
        cursor = row.events_cursor
        if cursor:
            cursor, used = await self._walk(row, cursor, pages, found, requests)
            if cursor is not None:
                return found, cursor
            if used >= pages:
                # The gap is closed, but what came since the last read of the newest sits
                # above it, unread: that read is due next (a job that has ended would
                # otherwise never be read again: no status change calls for it).
                return found, NEWEST_UNREAD
        cursor, _ = await self._walk(row, None, pages - used, found, requests)
        return found, cursor

    async def _walk(
        self,
        row: JobRow,
        after: str | None,
        pages: int,
        found: list[EventRow],
        requests: dict[str, int],
    ) -> tuple[str | None, int]:
        """Page older from ``after`` until a stored event; the cursor if pages ran out first."""
        job_id, profile = row.job_id, row.provider
        used = 0
        while used < pages:
            used += 1
            requests["events"] += 1
            page, more = await self._at(profile).events_page(job_id, after)
            known = await self._store.known_events(e.id for e in page)
            anchors = _anchors(page, known, more)
            found.extend(
                EventRow(
                    event_id=event.id,
                    job_id=job_id,
                    created_at=event.created_at,
                    level=event.level,
                    type=event.type,
                    message=event.message,
                    data=dict(event.data) if isinstance(event.data, dict) else None,
                    follows=anchors.get(event.id),
                )
                for event in page
                if event.id not in known
            )
            if known or not more or not page:
                return None, used
            after = page[-1].id
        return after, used

    async def _checkpoints(self, row: JobRow, requests: dict[str, int]) -> list[CheckpointRow]:
        job_id, profile = row.job_id, row.provider
        rows: list[CheckpointRow] = []
        after: str | None = None
        cursors: set[str] = set()
        for _ in range(MAX_CHECKPOINT_PAGES):
            requests["checkpoints"] += 1
            page, more = await self._at(profile).checkpoints_page(job_id, after)
            rows.extend(
                CheckpointRow(
                    checkpoint_id=c.id,
                    job_id=job_id,
                    step=c.step,
                    model=c.model,
                    metrics=c.metrics,
                    created_at=c.created_at,
                )
                for c in page
            )
            if not more or not page:
                return rows
            after = page[-1].id
            if after in cursors:
                log.warning("remote_cursor_stuck", provider=profile, operation="list_checkpoints")
                self._at(profile).health.note("remote_cursor_stuck", "list_checkpoints")
                return rows
            cursors.add(after)
        log.warning("remote_pages_capped", provider=profile, operation="list_checkpoints")
        self._at(profile).health.note(
            "remote_pages_capped", "list_checkpoints", f"{MAX_CHECKPOINT_PAGES} pages"
        )
        return rows

    # ------------------------------------------------------------------ after success

    async def _finished_extras(self, cycle: Cycle, requests: dict[str, int]) -> None:
        """Result files of succeeded jobs; a probe of each new model until it answers."""
        for row in await self._store.jobs_awaiting_results():
            files = row.result_files or []
            await self._parse_results(row, files, cycle, requests)
        for waiting in await self._store.jobs_awaiting_model():
            job_id, model = waiting.job_id, waiting.fine_tuned_model
            if model is None:
                continue
            requests["other"] += 1
            try:
                await self._at(waiting.provider).model(model)
            except RemoteError as exc:
                if exc.kind != NOT_FOUND:
                    continue
                log.debug("model_not_ready", job_id=job_id, model=model)
                continue
            cycle.models_ready.append(job_id)

    async def _parse_results(
        self, row: JobRow, files: list[str], cycle: Cycle, requests: dict[str, int]
    ) -> None:
        job_id = row.job_id
        if job_id in cycle.results_parsed:
            return
        for file_id in files:
            if not self._at(row.provider).health.due("file_content", file_id):
                return  # a lasting error backs off; asked again when it is due
            requests["other"] += 1
            try:
                rows = await fetch_result_file(self._at(row.provider), file_id)
            except RemoteError as exc:
                if exc.code != TOO_LARGE:
                    return  # asked again next cycle
                log.warning("result_file_too_large", job_id=job_id, file_id=file_id)
                continue  # a file does not shrink: not fetched again
            except ResultFileError as exc:
                log.warning(
                    "result_file_unreadable", job_id=job_id, file_id=file_id, error=str(exc)
                )
                continue
            cycle.metrics.extend(MetricRow(job_id, step, f, "result_file") for step, f in rows)
        cycle.results_parsed.append(job_id)

    # ------------------------------------------------------------------ adoption, retirement

    async def adopt(self, job_id: str, profile: str | None = None) -> str | None:
        """Follow a job created outside ftd: the id it is followed by (the provider's
        answer may spell it otherwise), or None if it is followed already."""
        name = profile or DEFAULT_PROFILE
        job = await self._at(name).job(job_id)
        adopted = await self._store.adopt_job(
            job.id, job.status, job.model, job.metadata, provider=name
        )
        if adopted:
            self.wake()
        return job.id if adopted else None

    async def check_retirements(self, today: datetime.date | None = None) -> dict[str, str]:
        """Warn about base models used here that stop serving within 30 days, or are gone."""
        self._retirement_checked = time.monotonic()
        day = today or datetime.datetime.now(datetime.UTC).date()
        used: dict[str, set[str]] = {}
        for job in await self._store.jobs():
            used.setdefault(job.provider, set()).add(catalog.base_name(job.model))
        for dataset in await self._store.datasets(
            [states.READY, states.AWAITING_APPROVAL, states.UPLOADING, states.CREATING_JOB]
        ):
            settings = dataset.settings or {}
            model, profile = settings.get("model"), settings.get("provider", DEFAULT_PROFILE)
            if isinstance(model, str) and isinstance(profile, str):
                used.setdefault(profile, set()).add(catalog.base_name(model))
        retiring: dict[str, str] = {}
        gone: list[str] = []
        listed = False
        for profile, models in sorted(used.items()):
            provider = self._at(profile)
            try:
                served: set[str] | None = set(await provider.model_ids())
                listed = True
            except (RemoteError, FtdError):
                served = None
            try:
                # Each provider's own dates (Azure lists its own; an OpenAI profile
                # gives the ones OpenAI announced): another may serve a model longer.
                listed_dates = await provider.retirements()
            except (RemoteError, FtdError):
                listed_dates = {}
            for model in sorted(models):
                date = listed_dates.get(model)
                if date is not None:
                    self.shutdown_dates[model] = date
                    left = (datetime.date.fromisoformat(date) - day).days
                    if left <= RETIREMENT_WARNING_DAYS:
                        retiring[model] = date
                        log.warning(
                            "base_model_retiring", model=model, shutdown=date, days_left=left
                        )
                if served is not None and model not in served:
                    log.warning("base_model_not_served", model=model, provider=profile)
                    gone.append(model)
        self.retiring = retiring
        if listed:
            self.not_served = gone
        return retiring


def _anchors(page: list[JobEvent], known: set[str], more: bool) -> dict[str, str]:
    """The oldest new event of a page, and the stored event it follows ("" for none).

    A page comes newest first, so its first stored event is the one right
    before the new events above it; a last page with nothing stored ends at
    the job's first event. This is what places a message that arrives after
    newer events of its own second (see ``ftd.store.tracking``).
    """
    for index, event in enumerate(page):
        if event.id in known:
            return {page[index - 1].id: event.id} if index > 0 else {}
    if page and not more:
        return {page[-1].id: ""}
    return {}


def _last_read(row: JobRow) -> float:
    return row.details_at or 0.0


def _unchanged(row: JobRow, job: RemoteJob) -> bool:
    """Whether the remote view says what the row holds, as ``_update`` would put it.

    True only where ``_differs`` would find the update equal to the row (a
    ``trained_tokens`` that did not change is never refused, see
    ``believable_job``), so a job passed over here loses nothing.
    """
    error = job.error
    return (
        job.status == row.status
        and job.trained_tokens == row.trained_tokens
        and job.fine_tuned_model == row.fine_tuned_model
        and (job.estimated_finish or None) == row.estimated_finish
        and ((error.code or None) if error is not None else None) == row.error_code
        and (list(job.result_files or []) or None) == row.result_files
    )


def _differs(row: JobRow, update: JobUpdate) -> bool:
    return (
        row.status,
        row.fine_tuned_model,
        row.trained_tokens,
        row.estimated_finish,
        row.error_code,
        row.result_files,
    ) != (
        update.status,
        update.fine_tuned_model,
        update.trained_tokens,
        update.estimated_finish,
        update.error_code,
        update.result_files,
    )
