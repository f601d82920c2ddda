"""Sending the outbox: one worker per destination, in order, with back-off; and watched facts.

Routing turns each new notification into a delivery per destination that
wants its kind (the configuration of that moment, so a reload applies to what
comes next). Each destination has its own task: a receiver that is down or
slow holds up only its own queue, never another destination's nor the daemon.
A delivery is tried until a 2xx answer (SMTP: 250), waiting twice as long
after each failure (up to ``MAX_BACKOFF_SECONDS``), and given up after the
destination's ``max_attempts``; every attempt is a log line. Messages of one
destination go oldest first, one at a time, so they arrive in order and a
message is never sent again once recorded as sent.

Watching raises what no state change does: a deployment running past a
destination's hours, a model whose shutdown date is near, a disk too full or
a database that refuses writes. Each is told once per fact (a dedupe key).
"""

from __future__ import annotations

import datetime
import random
import shutil
import sqlite3
import time
from typing import TYPE_CHECKING, Any

import anyio

from ftd import catalog
from ftd.logs import get_logger
from ftd.notify.send import deliver
from ftd.store import deployments as deployment_rows
from ftd.store import outbox, states

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from anyio.abc import TaskGroup, TaskStatus

    from ftd.config import Settings
    from ftd.config.notify import NotifyDestination
    from ftd.store import Store

log = get_logger("ftd.notify")
ROUTE_SECONDS = 1.0
WATCH_SECONDS = 5.0
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 600.0
DISK_FULL_BYTES = 64 << 20
IDLE_SECONDS = 30.0


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures in a row, with jitter."""
    base = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(0, attempts - 1))
    return float(base * random.uniform(0.8, 1.2))


class Dispatcher:
    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        shutdown_dates: Callable[[], Mapping[str, str]] = dict,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._dates = shutdown_dates
        self._environ = environ
        self._workers: dict[str, tuple[anyio.CancelScope, anyio.Event]] = {}
        self._blocked: dict[str, float] = {}  # reason -> when it began, while it lasts
        self._unwritten: list[tuple[str, str, dict[str, Any], str]] = []

    def destinations(self) -> dict[str, NotifyDestination]:
        return {d.name: d for d in self._settings().notify}

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            task_status.started()
            tg.start_soon(self._watch)
            while True:
                try:
                    await self._route(tg)
                except sqlite3.Error as exc:
                    self._store_trouble(exc)
                except Exception:
                    log.exception("notifier_error")
                await anyio.sleep(ROUTE_SECONDS)

    # ------------------------------------------------------------------ routing

    async def _route(self, tg: TaskGroup) -> None:
        wanted = self.destinations()
        for name in list(self._workers):
            if name not in wanted:
                scope, _ = self._workers.pop(name)
                scope.cancel()  # a destination removed by a reload: its queue waits
        for name in wanted:
            if name not in self._workers:
                scope, event = anyio.CancelScope(), anyio.Event()
                self._workers[name] = (scope, event)
                tg.start_soon(self._worker, name, scope)
        unrouted = await self._store.read(
            "SELECT 1 FROM notifications WHERE routed_at IS NULL LIMIT 1"
        )
        if unrouted:
            await outbox.route(self._store, {n: set(d.events) for n, d in wanted.items()})
            for name, (scope, event) in list(self._workers.items()):
                event.set()
                self._workers[name] = (scope, anyio.Event())

    # ------------------------------------------------------------------ one destination

    async def _worker(self, name: str, scope: anyio.CancelScope) -> None:
        with scope:
            while True:
                # Taken before looking, so a routing meanwhile is not missed.
                event = self._workers.get(name, (scope, anyio.Event()))[1]
                try:
                    waited = await self._once(name)
                except sqlite3.Error as exc:
                    self._store_trouble(exc)
                    waited = 5.0
                except Exception:
                    # A bug must not stop the other destinations, nor the daemon.
                    log.exception("notifier_error", destination=name)
                    waited = IDLE_SECONDS
                if waited > 0:
                    with anyio.move_on_after(waited):
                        await event.wait()

    async def _once(self, name: str) -> float:
        """Try this destination's oldest open delivery; seconds to wait before looking again."""
        destination = self.destinations().get(name)
        if destination is None:
            return IDLE_SECONDS
        delivery = await outbox.next_delivery(self._store, name)
        if delivery is None:
            return IDLE_SECONDS
        due = delivery.next_attempt_at - time.time()
        if due > 0:
            return due
        answer = await deliver(destination, delivery.notification, self._environ)
        attempts = delivery.attempts + 1
        retry_at = None if answer.ok or attempts >= destination.max_attempts else time.time()
        if retry_at is not None:
            retry_at += backoff(attempts)
        (log.info if answer.ok else log.warning)(
            "notification_attempt",
            destination=name,
            kind=destination.kind,
            notification_id=delivery.notification.id,
            about=delivery.notification.kind,
            attempt=attempts,
            sent=answer.ok,
            status=answer.status,
            answer=None if answer.ok else answer.body[:300],
            seconds=round(answer.seconds, 3),
            retry_in=None if retry_at is None else round(retry_at - time.time(), 1),
        )
        if not answer.ok and retry_at is None:
            log.error(
                "notification_given_up",
                destination=name,
                notification_id=delivery.notification.id,
                attempts=attempts,
            )
        with anyio.CancelScope(shield=True):
            await outbox.record_attempt(
                self._store,
                delivery,
                sent=answer.ok,
                status=answer.status,
                error=None if answer.ok else answer.body,
                retry_at=retry_at,
            )
        return 0.0

    # ------------------------------------------------------------------ watched facts

    async def _watch(self) -> None:
        while True:
            try:
                await self.watch_once()
            except sqlite3.Error as exc:
                self._store_trouble(exc)
            except Exception:
                log.exception("notifier_error")
            await anyio.sleep(WATCH_SECONDS)

    async def watch_once(self, now: float | None = None) -> None:
        """Raise the watched facts that hold now and were not told yet."""
        now = time.time() if now is None else now
        destinations = list(self.destinations().values())
        if not destinations:
            return
        await self._flush_unwritten()
        await self._deployments(destinations, now)
        await self._retirements(destinations, now)
        self._disk(self._settings().paths.state_dir, now)
        await self._flush_unwritten()

    async def _deployments(self, destinations: list[NotifyDestination], now: float) -> None:
        rows = [r for r in await deployment_rows.live(self._store) if r.state != "deleting"]
        by_hours: dict[float, list[str]] = {}
        for d in destinations:
            if "deployment_running" in d.events:
                by_hours.setdefault(d.deployment_hours, []).append(d.name)
        for row in rows:
            hours = (now - row.created_at) / 3600
            for threshold, names in sorted(by_hours.items()):
                if hours < threshold:
                    continue
                payload = {
                    "deployment_id": row.id,
                    "name": row.name,
                    "model": row.model,
                    "provider": row.provider,
                    "job_id": row.job_id,
                    "hours": round(hours, 2),
                    "threshold_hours": threshold,
                    "cost_usd": row.hosting_usd(now),
                    "for_destinations": names,
                }
                await self._add(
                    "deployment_running",
                    f"deployment {row.name}",
                    payload,
                    f"deployment_running:{row.provider}:{row.name}:{row.id}:{threshold:g}",
                )

    async def _retirements(self, destinations: list[NotifyDestination], now: float) -> None:
        by_days: dict[int, list[str]] = {}
        for d in destinations:
            if "model_retiring" in d.events:
                by_days.setdefault(d.retiring_days, []).append(d.name)
        if not by_days:
            return
        dates = dict(self._dates())
        if not dates:
            return  # no date known: nothing to read
        tuned: dict[str, list[str]] = {}
        for job in await self._store.read(
            "SELECT model, fine_tuned_model FROM jobs WHERE status = ? AND "
            "fine_tuned_model IS NOT NULL AND model_deleted_at IS NULL ORDER BY id",
            (states.JOB_SUCCEEDED,),
        ):
            tuned.setdefault(catalog.base_name(job["model"]), []).append(job["fine_tuned_model"])
        today = time.strftime("%Y-%m-%d", time.gmtime(now))
        for base, models in sorted(tuned.items()):
            shutdown = dates.get(base)
            if shutdown is None:
                continue
            left = _days_between(today, shutdown)
            for days, names in sorted(by_days.items()):
                if left > days:
                    continue
                payload = {
                    "model": base,
                    "shutdown": shutdown,
                    "days_left": left,
                    "fine_tuned_models": sorted(models),
                    "for_destinations": names,
                }
                await self._add(
                    "model_retiring",
                    f"model {base}",
                    payload,
                    f"model_retiring:{base}:{shutdown}:{days}",
                )

    def _disk(self, state_dir: Path, now: float) -> None:
        try:
            free = shutil.disk_usage(state_dir).free
        except OSError:
            return
        self._condition(
            "disk_full",
            free < DISK_FULL_BYTES,
            now,
            f"{free / 2**20:.0f} MiB free on the file system of {state_dir}",
        )

    def _store_trouble(self, exc: sqlite3.Error) -> None:
        log.error("notifier_store_error", error=str(exc))
        self._condition("database_locked", True, time.time(), f"the database refuses: {exc}")

    def _condition(self, reason: str, holds: bool, now: float, message: str) -> None:
        """A blocking condition told once when it begins (written as soon as the store lets us)."""
        if not holds:
            self._blocked.pop(reason, None)
            return
        if reason in self._blocked:
            return
        self._blocked[reason] = now
        self._unwritten.append(
            (
                "daemon_blocked",
                f"daemon: {reason}",
                {"reason": reason, "message": message, "since": now},
                f"daemon_blocked:{reason}:{now:.3f}",
            )
        )

    async def _flush_unwritten(self) -> None:
        while self._unwritten:
            await self._add(*self._unwritten[0])
            self._unwritten.pop(0)
            # The store took a write: a database that refused is writable again.
            self._blocked.pop("database_locked", None)

    async def _add(self, kind: str, subject: str, payload: dict[str, Any], dedupe: str) -> None:
        async with self._store.transaction() as tx:
            await outbox.add(tx, kind, subject, payload, dedupe=dedupe)


def _days_between(today: str, day: str) -> int:
    return (datetime.date.fromisoformat(day) - datetime.date.fromisoformat(today)).days
