"""The composition root of ``ftd run``: build the parts, finish what a crash left, run them.

One task group holds the watcher, the pipeline stages, the approval check,
the tracker and the control socket's server. SIGTERM or SIGINT cancels it;
database commits are shielded from the cancellation, remote calls in flight
are abandoned (their intents are on record), and jobs keep running at the
provider until the next start. SIGHUP reloads the configuration.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import TYPE_CHECKING, Any

import anyio

from ftd import __version__
from ftd.control.access import Access
from ftd.control.handlers import commands
from ftd.control.server import ControlServer, bound_socket
from ftd.daemon import snapshot
from ftd.daemon.approval import watch_approvals
from ftd.daemon.claim import Intake, settle_claims
from ftd.daemon.clockjump import follow_clock
from ftd.daemon.database import (
    StartStopped,
    identity_of,
    now,
    open_when_possible,
    watch_identity,
    when_possible,
)
from ftd.daemon.deployments import Deployer
from ftd.daemon.lock import hold_lock
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
    import socket
    from collections.abc import Callable, Coroutine
    from pathlib import Path

    from ftd.config import Settings
    from ftd.config.paths import DropFolder

log = get_logger("ftd.daemon")
PREPARE_LIMIT = 2
SUBMIT_LIMIT = 4
DATABASE_NAME = "ftd.db"
SNAPSHOTS_NAME = "snapshots"


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


async def _on_signals(
    scope: anyio.CancelScope, reload: Reloader, stopping: Callable[[], object]
) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as received:
        async for number in received:
            if number == signal.SIGHUP:
                await reload()
                continue
            log.info("daemon_stopping", signal=signal.Signals(number).name)
            stopping()
            scope.cancel()
            return


async def serve(settings: Settings, config_file: Path | None = None) -> None:
    """Run until SIGTERM or SIGINT."""
    paths = settings.paths
    drop = paths.drop
    splits_dir = paths.state_dir / "splits"
    notifier = Notifier.from_env()  # removes systemd's variables before any child starts

    def folders() -> None:
        paths.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        drop.create()
        splits_dir.mkdir(exist_ok=True, mode=0o700)
        # ftd's own copies of what it took from the drop folder: never the producers'.
        (paths.state_dir / SNAPSHOTS_NAME).mkdir(exist_ok=True, mode=0o700)

    control = settings.control
    access = Access(group=control.group, admin_group=control.admin_group)
    with contextlib.ExitStack() as held:
        lock = paths.state_dir / "ftd.lock"
        try:
            # A full disk or a read-only file system waits here, said once, as the database does.
            await when_possible("state folders", now(folders), notifier, where=paths.state_dir)
            await when_possible(
                "lock file", now(lambda: held.enter_context(hold_lock(lock))), notifier, where=lock
            )
            listening = await when_possible(
                "control socket",
                now(lambda: held.enter_context(bound_socket(settings.socket_path, access.gid))),
                notifier,
                where=settings.socket_path,
            )
        except StartStopped:
            log.info("daemon_stopped")
            return
        database = paths.state_dir / DATABASE_NAME
        opened = await open_when_possible(database, notifier)
        if opened is None:
            log.info("daemon_stopped")
            return
        store = opened
        identity = identity_of(database)
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
            providers.get(name)  # a profile that cannot be built stops the start, named
        try:
            await _run(
                settings,
                store,
                providers,
                paces,
                drop,
                splits_dir,
                (listening, access),
                config_file,
                notifier,
                lambda: watch_identity(database, identity),
            )
        finally:
            with anyio.CancelScope(shield=True):
                await providers.close()
                await store.close()
    log.info("daemon_stopped")


async def _run(
    settings: Settings,
    store: Store,
    providers: Providers,
    paces: dict[str, Pace],
    drop: DropFolder,
    splits_dir: Path,
    control: tuple[socket.socket, Access],
    config_file: Path | None,
    notifier: Notifier,
    watch_database: Callable[[], Coroutine[Any, Any, None]],
) -> None:
    provider = settings.provider
    pace = paces[DEFAULT_PROFILE]
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
    await reports.catch_up()

    def reload_state(state: str) -> None:
        if state == "reloading":
            notifier.reloading()
        else:
            notifier.ready()

    reloader = Reloader(parts, config_file, on_applied=tracker.reconfigure, notify=reload_state)
    parts.reload = reloader
    listening, access = control
    limits = settings.control
    server = ControlServer(
        commands(parts),
        access,
        max_clients=limits.max_clients,
        idle_seconds=limits.idle_seconds,
        max_request_bytes=limits.max_request_bytes,
    )
    parts.connections = lambda: server.connections
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_on_signals, tg.cancel_scope, reloader, notifier.stopping)
            tg.start_soon(watch_database)

            def clock_moved() -> None:
                prepare.wake()
                submit.wake()

            tg.start_soon(follow_clock, store, clock_moved)
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
            await tg.start(server.serve, listening)
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
            tg.start_soon(lambda: keep_alive(notifier, lambda: status_line(store)))
    finally:
        with anyio.CancelScope(shield=True):
            await preparer.aclose()  # the validation processes kept for more work
