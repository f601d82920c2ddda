"""Watching ``incoming/``: events as hints, a rescan as the truth, stability as the rule.

watchfiles does not report files that were there before it started, and an
inotify queue can overflow; so the folder is scanned at start, after every
batch of events, when a pending file may have become stable, and at least
every ``rescan_seconds``. Whatever is complete is handed to ``on_ready`` once
per look; the receiver moves it out of ``incoming/``, which ends the repeats.
With ``staging`` (the drop folder's staging area) a file whose publisher's
ticket matches it is complete at once (see ``ftd.intake``); that folder is
watched too, since the ticket is written just after the file appears.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

import anyio
from watchfiles import awatch

from ftd.intake import Seen, Stability, in_turn, prune_tickets, scan, ticket_name, vouched
from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import TaskStatus

log = get_logger("ftd.watcher")
WATCH_RESTART_SECONDS = 1.0
# Files handed over per look: a file dropped during a flood of thousands waits
# for at most this many before a new look sees it and serves it in turn.
CLAIM_BATCH = 32


async def watch_incoming(
    incoming: str,
    on_ready: Callable[[Seen], Awaitable[None]],
    *,
    stable_seconds: float,
    rescan_seconds: float,
    force_polling: bool = False,
    staging: str | None = None,
    clock: Callable[[], float] = time.time,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run until cancelled; reports started once the first scan is done."""
    stability = Stability(stable_seconds)
    watched = [incoming]
    if staging is not None and await anyio.Path(staging).is_dir():
        watched.append(staging)

    def by_ticket(found: list[Seen]) -> Callable[[Seen], bool] | None:
        if staging is None:
            return None

        def check(item: Seen) -> bool:
            if not vouched(staging, item):
                return False
            found.append(item)
            return True

        return check

    skipped_before: set[tuple[str, str]] = set()
    wake = anyio.Event()

    async def look() -> None:
        nonlocal skipped_before
        try:
            seen, skipped = await anyio.to_thread.run_sync(scan, incoming)
        except OSError as exc:
            log.error("incoming_unreadable", path=incoming, error=str(exc))
            return
        now_skipped = {(s.name, s.reason) for s in skipped}
        for name, reason in sorted(now_skipped - skipped_before):
            log.info("incoming_ignored", file=name, reason=reason)
        skipped_before = now_skipped
        published: list[Seen] = []
        ready = in_turn(stability.update(seen, clock(), by_ticket(published)))
        for item in published:
            log.info("incoming_published", file=item.name, size=item.size)
        handed = ready[:CLAIM_BATCH]
        for item in handed:
            await on_ready(item)
        if len(ready) > CLAIM_BATCH:
            wake.set()  # the rest at the next look, beside whatever arrived meanwhile
        if staging is not None:
            taken = {item.inode for item in handed}
            for item in published:
                if item.inode in taken:
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(staging, ticket_name(item.inode)))
            live = {item.inode for item in seen}
            await anyio.to_thread.run_sync(prune_tickets, staging, live, clock())

    async def events() -> None:
        while True:
            try:
                async for _ in awatch(
                    *watched,
                    recursive=False,
                    force_polling=force_polling,
                    debounce=200,
                    step=50,
                    watch_filter=None,
                    ignore_permission_denied=True,
                    # How often the watcher thread checks for a stop: bounds how long a
                    # shutdown waits for it.
                    rust_timeout=200,
                ):
                    wake.set()
            except* RuntimeError as failed:
                # watchfiles gives up on a batch it cannot report (a name that is
                # not UTF-8, for one): the batch is lost, so look at the folder
                # itself, and watch again.
                errors = "; ".join(str(exc) for exc in failed.exceptions)
                log.warning("incoming_watch_failed", path=incoming, error=errors)
            wake.set()
            await anyio.sleep(WATCH_RESTART_SECONDS)
            wake.set()  # for what arrived while nothing watched

    await look()
    async with anyio.create_task_group() as tg:
        tg.start_soon(events)
        task_status.started()
        while True:
            pending = stability.next_check(clock())
            timeout = rescan_seconds if pending is None else min(rescan_seconds, pending + 0.05)
            with anyio.move_on_after(timeout):
                await wake.wait()
            wake = anyio.Event()
            await look()
