"""The composition root of ``ftd run``: build the parts, finish what a crash left, run them.

One task group holds the watcher, the pipeline stages, the approval check and
the tracker. SIGTERM or SIGINT cancels it; database commits are shielded from
the cancellation, remote calls in flight are abandoned (their intents are on
record), and jobs keep running at the provider until the next start.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

import anyio

from ftd import __version__
from ftd.daemon.approval import watch_approvals
from ftd.daemon.claim import Intake, settle_claims
from ftd.daemon.lock import hold_lock
from ftd.daemon.prepare import Preparer
from ftd.daemon.stages import Stage
from ftd.daemon.submit import Submitter
from ftd.logs import get_logger
from ftd.pace import Pace
from ftd.remote import Remote, client_for
from ftd.store import Store, states
from ftd.tracker import Tracker
from ftd.watcher import watch_incoming

if TYPE_CHECKING:
    from pathlib import Path

    from openai import AsyncOpenAI

    from ftd.config import Settings
    from ftd.config.paths import DropFolder

log = get_logger("ftd.daemon")
PREPARE_LIMIT = 2
SUBMIT_LIMIT = 4
DATABASE_NAME = "ftd.db"


async def recover(store: Store) -> None:
    """Finish what the last run left half done, before anything new is taken."""
    await settle_claims(store)
    for row in await store.datasets([states.VALIDATING]):
        # Its validation process died with the last run: validate again.
        await store.transition(row.id, states.VALIDATING, states.DETECTED, detail={"resumed": True})


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
        async for number in received:
            log.info("daemon_stopping", signal=signal.Signals(number).name)
            scope.cancel()
            return


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    paths = settings.paths
    paths.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    drop = paths.drop
    drop.create()
    splits_dir = paths.state_dir / "splits"
    splits_dir.mkdir(exist_ok=True, mode=0o700)
    with hold_lock(paths.state_dir / "ftd.lock"):
        store = await Store.open(paths.state_dir / DATABASE_NAME)
        pace = Pace(
            concurrency=settings.provider.max_concurrent_requests,
            per_minute=settings.provider.requests_per_minute,
        )
        client = client_for(settings.provider, pace)
        try:
            await _run(settings, store, client, pace, drop, splits_dir)
        finally:
            with anyio.CancelScope(shield=True):
                await client.close()
                await store.close()
    log.info("daemon_stopped")


async def _run(
    settings: Settings,
    store: Store,
    client: AsyncOpenAI,
    pace: Pace,
    drop: DropFolder,
    splits_dir: Path,
) -> None:
    provider = settings.provider
    remote = Remote(
        client,
        retries=provider.max_retries,
        upload_timeout=provider.upload_timeout_seconds,
        pace=pace,
    )
    await recover(store)

    async def job_finished() -> None:
        # A finished job frees a slot under the provider's concurrent-job cap:
        # datasets waiting on it need not sit out their whole back-off.
        if await store.retry_now([states.CREATING_JOB]):
            submit.wake()

    tracker = Tracker(
        store,
        remote,
        poll_seconds=settings.tracker.poll_seconds,
        on_finished=job_finished,
        price_per_mtok=lambda model: settings.price_for(model).training_per_mtok,
    )
    submitter = Submitter(
        store, remote, on_submitted=tracker.wake, file_ready_timeout=provider.upload_timeout_seconds
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
        settings,
        splits_dir=splits_dir,
        on_ready=submit.wake,
        secret_env=(provider.key_env_name,),
    )
    prepare = Stage("prepare", store, [states.DETECTED], preparer.handle, limit=PREPARE_LIMIT)
    intake = Intake(
        store, drop, max_file_bytes=settings.intake.max_file_bytes, on_claimed=prepare.wake
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(_stop_on_signal, tg.cancel_scope)
        await tg.start(prepare.run)
        await tg.start(submit.run)
        await tg.start(tracker.run)
        await tg.start(watch_approvals, store, submit.wake)
        await tg.start(
            lambda task_status: watch_incoming(
                str(drop.incoming),
                intake.take,
                stable_seconds=settings.intake.stable_seconds,
                rescan_seconds=settings.intake.rescan_seconds,
                force_polling=settings.intake.force_polling,
                task_status=task_status,
            )
        )
        log.info(
            "daemon_started",
            version=__version__,
            pid=os.getpid(),
            state_dir=str(settings.paths.state_dir),
            drop_dir=str(drop.root),
            provider=provider.kind,
            base_url=provider.base_url,
            api_key_from=provider.api_key_source,
        )
