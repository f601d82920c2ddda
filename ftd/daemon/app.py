"""The composition root of ``ftd run``: the control socket first, then the rest of the start.

The socket answers as soon as the state folders, the lock and the socket
itself are in place: ``ftd status`` then says which step the start is at
(ftd.daemon.starting). The database is opened next; then, off the event loop,
the daemon's own parts and the provider SDKs are imported and the tokenizer
files checked; the providers are built; and ftd.daemon.running finishes what
a crash left (nothing of it skipped, only ordered after the socket) and starts
every part. Only then do the other commands answer, and systemd hears READY.
This module imports little, so that the socket listens early.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

import anyio

from ftd.control.access import Access
from ftd.control.server import ControlServer, bound_socket
from ftd.daemon.database import (
    StartStopped,
    identity_of,
    now,
    open_when_possible,
    watch_identity,
    when_possible,
)
from ftd.daemon.lock import hold_lock
from ftd.daemon.signals import Signals
from ftd.daemon.starting import Startup
from ftd.logs import get_logger
from ftd.systemd import Notifier

if TYPE_CHECKING:
    from pathlib import Path

    from ftd.config import Settings
    from ftd.store import Store

log = get_logger("ftd.daemon")
DATABASE_NAME = "ftd.db"
SNAPSHOTS_NAME = "snapshots"


def _load_parts() -> None:
    """Import the running daemon's modules (most of ftd: slow)."""
    import ftd.daemon.running  # noqa: F401


def _require_tokenizers(default_model: str) -> None:
    """Every encoding a dataset here may need: the default model's and the catalogue's."""
    from ftd import catalog
    from ftd.datasets.tokens import require_encodings

    require_encodings(
        [catalog.encoding_name(default_model), *(m.encoding for m in catalog.BASE_MODELS)]
    )


async def serve(settings: Settings, config_file: Path | None = None) -> None:
    """Run until SIGTERM or SIGINT."""
    started_at, started_monotonic = time.time(), time.monotonic()
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
        startup = Startup(
            settings,
            settings.socket_path,
            notifier,
            pid=os.getpid(),
            started_at=started_at,
            started_monotonic=started_monotonic,
        )
        server = ControlServer(
            startup.commands(),
            access,
            max_clients=control.max_clients,
            idle_seconds=control.idle_seconds,
            max_request_bytes=control.max_request_bytes,
            starting=lambda: startup.step,
        )
        startup.server = server
        # A failure of the start leaves the task group as it came (not in a group):
        # ``ftd run`` tells a configuration error or a lost database by its type.
        failed: Exception | None = None
        async with anyio.create_task_group() as tg:
            signals = Signals(tg.cancel_scope, notifier.stopping)
            await tg.start(signals.run)
            await tg.start(server.serve, listening)
            log.info("control_listening", socket=str(settings.socket_path), starting=True)
            try:
                await _start(settings, config_file, notifier, startup, (server, access), signals)
            except Exception as exc:
                failed = exc
            finally:
                tg.cancel_scope.cancel()
        if failed is not None:
            raise failed
    log.info("daemon_stopped")


async def _start(
    settings: Settings,
    config_file: Path | None,
    notifier: Notifier,
    startup: Startup,
    control: tuple[ControlServer, Access],
    signals: Signals,
) -> None:
    """Everything after the socket: the database, the heavy imports, the providers, the parts."""
    startup.at("database")
    database = settings.paths.state_dir / DATABASE_NAME
    # A stop asked meanwhile reaches ``signals``, which cancels this wait.
    store = await open_when_possible(database, notifier, watch_signals=False)
    if store is None:
        return
    try:
        startup.store = store
        identity = identity_of(database)
        await _run(
            settings, config_file, notifier, (startup, signals), control, store, database, identity
        )
    finally:
        startup.store = None
        with anyio.CancelScope(shield=True):
            await store.close()


async def _run(
    settings: Settings,
    config_file: Path | None,
    notifier: Notifier,
    starting: tuple[Startup, Signals],
    control: tuple[ControlServer, Access],
    store: Store,
    database: Path,
    identity: tuple[int, int],
) -> None:
    startup, signals = starting
    startup.at("loading")
    await anyio.to_thread.run_sync(_load_parts)
    from ftd.daemon.running import open_providers, run_parts
    from ftd.providers.registry import load_adapters

    startup.at("tokenizers")
    # A daemon that cannot count tokens never gets going (a configuration error).
    await anyio.to_thread.run_sync(_require_tokenizers, settings.defaults.model)
    startup.at("providers")
    # Their SDKs off the event loop (the OpenAI SDK alone is the slowest import
    # of all); built on it, as the parts that use them run there.
    await anyio.to_thread.run_sync(load_adapters, settings)
    providers, paces = open_providers(settings)
    try:
        await run_parts(
            settings,
            store,
            providers,
            paces,
            settings.paths.state_dir / "splits",
            control,
            startup,
            signals,
            config_file,
            notifier,
            lambda: watch_identity(database, identity),
        )
    finally:
        with anyio.CancelScope(shield=True):
            await providers.close()
