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

A blocked daemon (a full disk, a database locked by another process beyond
the busy timeout) is an episode: told once when a look first sees it, once
more (``daemon_unblocked``) when a look sees it over, however many writes
failed between. Its message cannot wait for the database it may be about: if
the outbox refuses it, it is sent from memory at once and recorded as sent
when the database takes writes again. A sent message whose record failed is
recorded later, not sent again.

A destination removed from the configuration has its open deliveries marked
dropped (kept, with why), at the first routing without it.
"""

from __future__ import annotations

import datetime
import random
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from ftd import catalog
from ftd.logs import get_logger
from ftd.notify.send import Answer, deliver
from ftd.store import deployments as deployment_rows
from ftd.store import outbox, states
from ftd.store.outbox import Delivery, Notification

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
        self._episodes: dict[str, _Episode] = {}  # reason -> the episode, while it lasts
        self._untold: list[_Episode] = []  # begun, not in the outbox yet
        self._unwritten: list[tuple[str, str, dict[str, Any], str]] = []
        self._unrecorded: dict[str, tuple[Delivery, Answer, float | None]] = {}
        self._configured: frozenset[str] | None = None
        self._news = anyio.Event()  # an episode begun: the teller tells it now
        self._telling = anyio.Lock()
        store.on_refused = self._store_trouble

    def destinations(self) -> dict[str, NotifyDestination]:
        return {d.name: d for d in self._settings().notify}

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            task_status.started()
            tg.start_soon(self._watch)
            tg.start_soon(self._teller)
            while True:
                try:
                    await self._route(tg)
                except sqlite3.Error as exc:
                    self._store_failed(exc)
                except Exception:
                    log.exception("notifier_error")
                await anyio.sleep(ROUTE_SECONDS)

    # ------------------------------------------------------------------ routing

    async def _route(self, tg: TaskGroup) -> None:
        wanted = self.destinations()
        for name in list(self._workers):
            if name not in wanted:
                scope, _ = self._workers.pop(name)
                scope.cancel()
        for name in wanted:
            if name not in self._workers:
                scope, event = anyio.CancelScope(), anyio.Event()
                self._workers[name] = (scope, event)
                tg.start_soon(self._worker, name, scope)
        if self._configured != frozenset(wanted):
            await self._drop_removed(frozenset(wanted))
        unrouted = await self._store.read(
            "SELECT 1 FROM notifications WHERE routed_at IS NULL LIMIT 1"
        )
        if unrouted:
            await outbox.route(self._store, {n: wants(d) for n, d in wanted.items()})
            self._wake_workers()

    async def _drop_removed(self, configured: frozenset[str]) -> None:
        """Open deliveries of destinations gone from the configuration stop waiting (kept)."""
        reason = "destination removed from the configuration"
        dropped = await outbox.drop_removed(self._store, configured, reason)
        self._configured = configured
        for name, count in dropped.items():
            log.warning(
                "notification_destination_dropped",
                destination=name,
                deliveries=count,
                reason=reason,
            )

    # ------------------------------------------------------------------ one destination

    async def _worker(self, name: str, scope: anyio.CancelScope) -> None:
        with scope:
            while True:
                # Taken before looking, so a routing meanwhile is not missed.
                event = self._workers.get(name, (scope, anyio.Event()))[1]
                try:
                    waited = await self._once(name)
                except sqlite3.Error as exc:
                    self._store_failed(exc)
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
        if name in self._unrecorded:
            # Sent, but the store refused its record: record it, never send it again.
            await self._record(*self._unrecorded[name])
            del self._unrecorded[name]
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
        self._unrecorded[name] = (delivery, answer, retry_at)
        with anyio.CancelScope(shield=True):
            await self._record(delivery, answer, retry_at)
        del self._unrecorded[name]
        return 0.0

    async def _record(self, delivery: Delivery, answer: Answer, retry_at: float | None) -> None:
        await outbox.record_attempt(
            self._store,
            delivery,
            sent=answer.ok,
            status=answer.status,
            error=None if answer.ok else answer.body,
            retry_at=retry_at,
        )

    # ------------------------------------------------------------------ watched facts

    async def _watch(self) -> None:
        while True:
            try:
                await self.watch_once()
            except sqlite3.Error as exc:
                self._store_failed(exc)
            except Exception:
                log.exception("notifier_error")
            await anyio.sleep(WATCH_SECONDS)

    async def _teller(self) -> None:
        """Tells an episode as soon as it begins, not at the next look (which may wait on it)."""
        while True:
            with anyio.move_on_after(WATCH_SECONDS):
                await self._news.wait()
            self._news = anyio.Event()  # an episode begun while telling wakes the next round
            try:
                await self._tell_blocked(list(self.destinations().values()))
            except Exception:
                log.exception("notifier_error")

    async def watch_once(self, now: float | None = None) -> None:
        """Raise the watched facts that hold now and were not told yet."""
        now = time.time() if now is None else now
        destinations = list(self.destinations().values())
        if not destinations:
            return
        await self._look_at_store(now)
        self._disk(self._settings().paths.state_dir, now)
        await self._tell_blocked(destinations)
        if "database_locked" in self._episodes:
            return  # every write would wait out the busy timeout and fail
        await self._write_pending()
        await self._deployments(destinations, now)
        await self._retirements(destinations, now)
        await self._write_pending()

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
        message = f"{free / 2**20:.0f} MiB free on the file system of {state_dir}"
        episode = self._episodes.get("disk_full")
        if free < DISK_FULL_BYTES:
            self._begin("disk_full", now, message)
        elif episode is None or now - episode.refused_at >= WATCH_SECONDS / 2:
            # Room by this look, and no write refused as full just now (a quota, say,
            # that the free room does not show): over.
            self._end("disk_full", now, message)

    async def _look_at_store(self, now: float) -> None:
        """Whether the database takes a write now (its lock had and let go, nothing written)."""
        try:
            await self._store.probe_write()
        except sqlite3.Error as exc:
            self._store_failed(exc)
        else:
            self._end("database_locked", now, "the database takes writes again")

    def _store_failed(self, exc: sqlite3.Error) -> None:
        """The notifier's own store call failed: said; a refused write began its episode already."""
        log.warning("notifier_store_error", error=f"{type(exc).__name__}: {exc}")

    def _store_trouble(self, exc: sqlite3.Error) -> None:
        """A write the machine refused (any writer's, told by the store): an episode, or more."""
        full = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL
        reason = "disk_full" if full else "database_locked"
        now = time.time()
        self._begin(reason, now, f"the database refuses writes: {exc}")
        self._episodes[reason].refused_at = now

    def _begin(self, reason: str, now: float, message: str) -> None:
        """A blocking condition seen: a new episode when none of its reason lasts."""
        episode = self._episodes.get(reason)
        if episode is not None:
            episode.looks += 1
            log.debug("daemon_still_blocked", reason=reason, looks=episode.looks)
            return
        payload = {"reason": reason, "message": message, "since": now}
        notification = Notification(0, "daemon_blocked", f"daemon: {reason}", payload, now)
        episode = _Episode(reason, notification, f"daemon_blocked:{reason}:{now:.3f}")
        self._episodes[reason] = episode
        self._untold.append(episode)
        log.error("daemon_blocked", reason=reason, message=message)
        self._news.set()

    def _end(self, reason: str, now: float, message: str) -> None:
        """The condition is over: its end is told (after its beginning) to who was told that."""
        episode = self._episodes.pop(reason, None)
        if episode is None:
            return
        seconds = round(now - episode.notification.created_at, 1)
        log.info("daemon_unblocked", reason=reason, seconds=seconds, looks=episode.looks)
        payload = {
            "reason": reason,
            "message": f"blocked for {seconds:g} s; {message}",
            "since": episode.notification.created_at,
            "seconds": seconds,
        }
        self._unwritten.append(
            ("daemon_unblocked", f"daemon: {reason}", payload, f"daemon_unblocked:{episode.dedupe}")
        )

    # ------------------------------------------------------------------ telling a block

    async def _tell_blocked(self, destinations: list[NotifyDestination]) -> None:
        """Each new episode into the outbox; straight from memory when the outbox refuses.

        The message must leave while the condition lasts, and the condition
        may be the very database the outbox is in. A message sent from here is
        recorded as sent once the database takes writes (``add_told``), so a
        restart does not send it again.
        """
        async with self._telling:
            for episode in list(self._untold):
                if not episode.direct and "database_locked" not in self._episodes:
                    blocked = episode.notification
                    try:
                        await self._add(
                            blocked.kind, blocked.subject, blocked.payload, episode.dedupe
                        )
                    except sqlite3.Error as exc:
                        self._store_failed(exc)
                    else:
                        self._untold.remove(episode)
                        continue
                episode.direct = True
                await self._send_directly(episode, destinations)

    async def _send_directly(
        self, episode: _Episode, destinations: list[NotifyDestination]
    ) -> None:
        wanting = [d for d in destinations if "daemon_blocked" in d.events]
        episode.wanting.update(d.name for d in wanting)
        due = [d for d in wanting if _worth_trying(episode.told.get(d.name), d)]

        async def one(destination: NotifyDestination) -> None:
            answer = await deliver(destination, episode.notification, self._environ)
            before = episode.told.get(destination.name)
            attempts = 1 if before is None else before.attempts + 1
            episode.told[destination.name] = outbox.Told(
                time.time(), answer.ok, answer.status, None if answer.ok else answer.body, attempts
            )
            (log.info if answer.ok else log.warning)(
                "notification_attempt",
                destination=destination.name,
                kind=destination.kind,
                notification_id=None,
                about=episode.notification.kind,
                reason=episode.reason,
                attempt=attempts,
                sent=answer.ok,
                status=answer.status,
                answer=None if answer.ok else answer.body[:300],
                seconds=round(answer.seconds, 3),
                direct=True,
            )

        async with anyio.create_task_group() as tg:
            for destination in due:
                tg.start_soon(one, destination)

    async def _write_pending(self) -> None:
        """What could not be written when it happened, oldest first, while the store lets us."""
        async with self._telling:  # not while a direct send of it is under way
            while self._untold and self._untold[0].direct:
                episode = self._untold[0]
                async with self._store.transaction() as tx:
                    await outbox.add_told(
                        tx,
                        episode.notification,
                        dedupe=episode.dedupe,
                        wanting=episode.wanting,
                        told=episode.told,
                    )
                self._untold.pop(0)
                self._wake_workers()  # a destination the direct try missed gets it now
        while self._unwritten and not self._untold:
            await self._add(*self._unwritten[0])
            self._unwritten.pop(0)

    def _wake_workers(self) -> None:
        for name, (scope, event) in list(self._workers.items()):
            event.set()
            self._workers[name] = (scope, anyio.Event())

    async def _add(self, kind: str, subject: str, payload: dict[str, Any], dedupe: str) -> None:
        async with self._store.transaction() as tx:
            await outbox.add(tx, kind, subject, payload, dedupe=dedupe)


@dataclass(slots=True)
class _Episode:
    """One blocking condition from the look that saw it begin to the look that saw it end."""

    reason: str
    notification: Notification  # its daemon_blocked message, held in memory until written
    dedupe: str
    looks: int = 1  # how many looks and refused writes saw it
    refused_at: float = 0.0  # the last write refused for it
    direct: bool = False  # the outbox refused it: sent from memory, recorded later
    wanting: set[str] = field(default_factory=set)
    told: dict[str, outbox.Told] = field(default_factory=dict)


def _worth_trying(told: outbox.Told | None, destination: NotifyDestination) -> bool:
    """Not sent yet, and tried fewer times than the destination allows."""
    return told is None or (not told.sent and told.attempts < destination.max_attempts)


def wants(destination: NotifyDestination) -> set[str]:
    """The kinds a destination is sent: those it chose, and the end of a block it chose."""
    kinds: set[str] = set(destination.events)
    if "daemon_blocked" in kinds:
        kinds.add("daemon_unblocked")
    return kinds


def _days_between(today: str, day: str) -> int:
    return (datetime.date.fromisoformat(day) - datetime.date.fromisoformat(today)).days
