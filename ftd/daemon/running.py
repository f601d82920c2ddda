"""The daemon's parts, wired together and run: what ``ftd run`` does once its socket answers.

One task group holds the watcher, the pipeline stages, the approval check,
the tracker and the signal handling; the control socket's server (already
answering, see ftd.daemon.starting) gets the full set of commands once they
all run. SIGTERM or SIGINT cancels the group; database commits are shielded
from the cancellation, remote calls in flight are abandoned (their intents are
on record), and jobs keep running at the provider until the next start.
SIGHUP reloads the configuration. This module imports most of ftd: the
composition root (ftd.daemon.app) imports it off the event loop.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import anyio

from ftd import __version__
from ftd.control.handlers import commands
from ftd.daemon import snapshot
from ftd.daemon.app import SNAPSHOTS_NAME
from ftd.daemon.approval import watch_approvals
from ftd.daemon.claim import Intake, settle_claims
from ftd.daemon.clockjump import follow_clock
from ftd.daemon.collector import tune_collector
from ftd.daemon.deployments import Deployer
from ftd.daemon.notifier import Dispatcher
from ftd.daemon.parts import Parts
from ftd.daemon.prepare import Preparer
from ftd.daemon.recorder import Recorder
from ftd.daemon.reload import Reloader
from ftd.daemon.reports import Reports
from ftd.daemon.stages import Stage
from ftd.daemon.submit import Submitter
from ftd.daemon.webhooks_in import WebhookListener
from ftd.evaluation.service import EvaluationService
from ftd.logs import get_logger
from ftd.pace import Pace
from ftd.profiles import DEFAULT_PROFILE
from ftd.providers import Providers
from ftd.store import Store, states
from ftd.systemd import Notifier, keep_alive
from ftd.tracker import Tracker
from ftd.watcher import watch_incoming

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from pathlib import Path

    from ftd.config import Settings
    from ftd.config.paths import DropFolder
    from ftd.control.access import Access
    from ftd.control.server import ControlServer
    from ftd.daemon.signals import Signals
    from ftd.daemon.starting import Startup

log = get_logger("ftd.daemon")
PREPARE_LIMIT = 2
SUBMIT_LIMIT = 4


def open_providers(settings: Settings) -> tuple[Providers, dict[str, Pace]]:
    """Every profile's adapter and its pace; a profile that cannot be built stops the start."""
    # One pace per profile: one provider's limits never slow another's calls.
    paces = {
        name: Pace(
            concurrency=profile.max_concurrent_requests,
            per_minute=profile.requests_per_minute,
        )
        for name, profile in settings.profiles.items()
    }
    providers = Providers(settings, paces.get)
    for name in settings.profiles:
        providers.get(name)  # named in the error if it cannot be built
    return providers, paces


async def recover(store: Store, drop: DropFolder | None = None) -> None:
    """Finish what the last run left half done, before anything new is taken."""
    await settle_claims(store, root=drop.root if drop is not None else None)
    for row in await store.datasets([states.VALIDATING]):
        # Its validation process died with the last run: validate again.
        await store.transition(row.id, states.VALIDATING, states.DETECTED, detail={"resumed": True})


# Datasets on their way to a job, shown as "waiting" in the status line.
_WAITING = frozenset(
    {states.DETECTED, states.VALIDATING, states.READY, states.UPLOADING, states.CREATING_JOB}
)


async def status_line(store: Store) -> str:
    """The short live figures ``systemctl status`` shows: two indexed counts."""
    jobs = await store.read("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
    datasets = await store.read("SELECT state, COUNT(*) AS n FROM datasets GROUP BY state")
    job = {r["status"]: r["n"] for r in jobs}
    dataset = {r["state"]: r["n"] for r in datasets}
    waiting = sum(n for s, n in dataset.items() if s in _WAITING)
    queued = job.get(states.JOB_VALIDATING_FILES, 0) + job.get(states.JOB_QUEUED, 0)
    parts = [f"{job.get(states.JOB_RUNNING, 0)} jobs running"]
    if queued:
        parts.append(f"{queued} queued")
    parts.append(f"{waiting} datasets waiting")
    if approval := dataset.get(states.AWAITING_APPROVAL, 0):
        parts.append(f"{approval} awaiting approval")
    return ", ".join(parts)


async def run_parts(
    settings: Settings,
    store: Store,
    providers: Providers,
    paces: dict[str, Pace],
    splits_dir: Path,
    control: tuple[ControlServer, Access],
    startup: Startup,
    signals: Signals,
    config_file: Path | None,
    notifier: Notifier,
    watch_database: Callable[[], Coroutine[Any, Any, None]],
) -> None:
    """Finish what the last run left, start every part, then answer every command."""
    drop = settings.paths.drop
    provider = settings.provider
    pace = paces[DEFAULT_PROFILE]
    startup.at("recovery")
    await recover(store, drop)
    snapshots = settings.paths.state_dir / SNAPSHOTS_NAME
    await snapshot.clean_leftovers(store, snapshots)  # a crash may have left copies behind

    async def job_finished() -> None:
        # A finished job frees a slot under the provider's concurrent-job cap:
        # datasets waiting on it need not sit out their whole back-off.
        if await store.retry_now([states.CREATING_JOB]):
            submit.wake()
        evaluations.wake()  # its model may answer already: evaluate it against its base
        deployer.wake()  # or it must be deployed first

    tracker = Tracker(
        store,
        providers,
        poll_seconds=settings.tracker.poll_seconds,
        on_finished=job_finished,
        price_per_mtok=lambda model: parts.settings.price_for(model).training_per_mtok,
    )
    submitter = Submitter(
        store,
        providers,
        on_submitted=tracker.wake,
        file_ready_timeout=provider.upload_timeout_seconds,
    )
    submit = Stage(
        "submit",
        store,
        [states.READY, states.UPLOADING, states.CREATING_JOB],
        submitter.handle,
        limit=SUBMIT_LIMIT,
    )
    preparer = Preparer(
        store,
        drop,
        lambda: parts.settings,
        splits_dir=splits_dir,
        on_ready=submit.wake,
        secret_env=tuple(p.key_env_name for p in settings.profiles.values()),
        snapshots=snapshots,
    )
    prepare = Stage(
        "prepare",
        store,
        [states.DETECTED, states.VALIDATING],  # validating: a handler that could not finish
        preparer.handle,
        limit=PREPARE_LIMIT,
    )
    intake = Intake(
        store,
        drop,
        max_file_bytes=settings.intake.max_file_bytes,
        on_claimed=prepare.wake,
        snapshots=snapshots,
    )
    parts = Parts(
        settings=settings,
        store=store,
        providers=providers,
        tracker=tracker,
        pace=pace,
        wake_prepare=prepare.wake,
        wake_submit=submit.wake,
        socket_path=settings.socket_path,
        preparer=preparer,
        pid=startup.pid,
        started_at=startup.started_at,
        started_monotonic=startup.started_monotonic,
    )
    deployer = Deployer(
        store,
        providers,
        lambda: parts.settings,
        on_ready=lambda: evaluations.wake(),
        poll_seconds=settings.tracker.poll_seconds,
    )

    async def evaluation_finished(evaluation_id: int) -> None:
        deployer.wake()  # its deployments may go now
        await reports.write_for(evaluation_id)

    evaluations = EvaluationService(
        store,
        lambda: parts.settings,
        pace=pace,
        scan_seconds=settings.tracker.poll_seconds,
        on_finished=evaluation_finished,
        servable=deployer.servable,
    )
    reports = Reports(store, evaluations, settings.paths.state_dir)
    parts.evaluations = evaluations
    recorder = Recorder(
        store,
        lambda: parts.settings,
        evaluations,
        providers,
        scan_seconds=settings.tracker.poll_seconds,
    )
    parts.recorder = recorder
    parts.reports = reports
    parts.deployer = deployer
    startup.at("reports")
    await reports.catch_up()

    def reload_state(state: str) -> None:
        if state == "reloading":
            notifier.reloading()
        else:
            notifier.ready()

    reloader = Reloader(parts, config_file, on_applied=tracker.reconfigure, notify=reload_state)
    parts.reload = reloader
    reload_now = signals.reload_with(reloader)
    server, access = control
    parts.connections = lambda: server.connections
    tune_collector()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_database)

            def clock_moved() -> None:
                prepare.wake()
                submit.wake()

            tg.start_soon(follow_clock, store, clock_moved)
            startup.at("parts")
            await tg.start(prepare.run)
            await tg.start(submit.run)
            await tg.start(tracker.run)
            await tg.start(evaluations.run)
            await tg.start(recorder.run)
            await tg.start(deployer.run)
            await tg.start(
                Dispatcher(store, lambda: parts.settings, lambda: tracker.shutdown_dates).run
            )
            if settings.webhooks.listen is not None:
                hooks = WebhookListener(settings.webhooks, lambda _job: tracker.wake())
                tracker.slowdown = hooks.slowdown
                await tg.start(hooks.run)
            tg.start_soon(reports.keep_up, max(5.0, 4 * settings.tracker.poll_seconds))
            await tg.start(watch_approvals, store, submit.wake, access.approves_by_file)
            await tg.start(
                lambda task_status: watch_incoming(
                    str(drop.incoming),
                    intake.take,
                    stable_seconds=settings.intake.stable_seconds,
                    rescan_seconds=settings.intake.rescan_seconds,
                    force_polling=settings.intake.force_polling,
                    staging=str(drop.staging),
                    task_status=task_status,
                )
            )
            server.serve_all(commands(parts))
            log.info(
                "daemon_started",
                version=__version__,
                pid=os.getpid(),
                state_dir=str(settings.paths.state_dir),
                drop_dir=str(drop.root),
                provider=provider.kind,
                base_url=provider.base_url,
                api_key_from=provider.api_key_source,
                profiles={name: p.kind for name, p in settings.profiles.items()},
                socket=str(settings.socket_path),
            )
            notifier.ready()  # the database is open, the socket listens, the watcher runs
            if reload_now:
                tg.start_soon(reloader)  # a SIGHUP came while starting
            tg.start_soon(lambda: keep_alive(notifier, lambda: status_line(store)))
    finally:
        with anyio.CancelScope(shield=True):
            await preparer.aclose()  # the validation processes kept for more work
