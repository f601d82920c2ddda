"""A blocked daemon told while it is blocked, end to end; a removed destination's queue dropped.

A real ``ftd run`` and a loopback webhook receiver. The state folder on a
small tmpfs filled to the last byte, and ``ftd.db`` held by another process's
``BEGIN EXCLUSIVE`` beyond the busy timeout: each reaches the receiver as one
``daemon_blocked`` naming its reason while the condition lasts (sent from
memory when the outbox cannot take it), then one ``daemon_unblocked`` once it
is over, and the next event flows as before, nothing twice; what was sent
from memory is recorded as sent. A destination removed by ``ftd reload`` has its waiting deliveries
marked dropped, kept, and not resumed when it comes back.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ftd.config import load_settings
from ftd.daemon import notifier
from ftd.daemon.notifier import Dispatcher
from ftd.store import Store, outbox
from ftd.store.db import BUSY_TIMEOUT_MS
from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import Daemon, small_tmpfs, wait_until
from tests.daemon.receivers import HttpReceiver

pytestmark = pytest.mark.slow


def hook_section(name: str, receiver: HttpReceiver, events: str = "") -> str:
    return f"""
[[notify]]
name = "{name}"
kind = "webhook"
url = "{receiver.url()}"
secret_env = "TEST_HOOK_SECRET"
{events}
"""


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


def with_hook(daemon: Daemon, *sections: str) -> Daemon:
    daemon.env["TEST_HOOK_SECRET"] = "not-checked-by-this-receiver"
    with daemon.config_path.open("a") as config:
        config.write("".join(sections))
    return daemon


def reasons(receiver: HttpReceiver, kind: str) -> list[str]:
    return [a["json"]["data"]["reason"] for a in receiver.of(kind)]


def reject(daemon: Daemon, name: str) -> None:
    (daemon.incoming / name).write_text("not json\n")


def fill(folder: Path) -> Path:
    """One file written until the file system has no byte left."""
    filler = folder / "filler"
    chunk = b"\0" * (1 << 20)
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as out:
        while True:
            out.write(chunk)
    with contextlib.suppress(OSError), filler.open("ab", buffering=0) as out:
        while True:
            out.write(b"\0" * 512)
    return filler


def no_open_delivery(daemon: Daemon) -> bool:
    return not daemon.query(
        "SELECT 1 FROM notification_deliveries WHERE sent_at IS NULL AND dropped_at IS NULL"
    )


def test_a_full_disk_is_told_while_full_once_and_its_end_after(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, hook: HttpReceiver
) -> None:
    daemon = with_hook(make_daemon(start_emulator()), hook_section("hook", hook))
    # Room above the bound at the start, none once filled.
    size = f"{(notifier.DISK_FULL_BYTES >> 20) + 24}m"
    with small_tmpfs(daemon.state_dir, size=size, inodes=4096):
        daemon.start()
        reject(daemon, "before.jsonl")
        wait_until("the first event told", lambda: hook.of("dataset_rejected"))

        filler = fill(daemon.state_dir)
        assert shutil.disk_usage(daemon.state_dir).free < 4096
        wait_until("the full disk told", lambda: hook.of("daemon_blocked"), timeout=30)
        assert reasons(hook, "daemon_blocked") == ["disk_full"]
        told = hook.of("daemon_blocked")[0]["json"]["data"]
        # Seen by a look at the free room, or by a write refused as full: either names it.
        assert str(daemon.state_dir) in told["message"] or "disk is full" in told["message"]
        # More looks see it full; it is not told again.
        daemon.wait_for("daemon_still_blocked", lambda e: e["reason"] == "disk_full")
        assert len(hook.of("daemon_blocked")) == 1
        assert not hook.of("daemon_unblocked")
        assert filler.exists()  # all of this while the disk is still full

        filler.unlink()
        wait_until("the end told", lambda: hook.of("daemon_unblocked"), timeout=30)
        assert reasons(hook, "daemon_unblocked") == ["disk_full"]
        reject(daemon, "after.jsonl")
        wait_until("the next event told", lambda: len(hook.of("dataset_rejected")) == 2)
        wait_until("nothing left to send", lambda: no_open_delivery(daemon))
        sent = daemon.query(
            "SELECT n.kind, d.sent_at FROM notifications n JOIN notification_deliveries d "
            "ON d.notification_id = n.id WHERE n.kind LIKE 'daemon_%' ORDER BY n.id"
        )
        assert [(r["kind"], r["sent_at"] is not None) for r in sent] == [
            ("daemon_blocked", True),
            ("daemon_unblocked", True),
        ]

        # Recorded as sent: a restart (which sends only what the outbox holds open) does not.
        ids = [a["headers"]["webhook-id"] for a in hook.arrivals]
        assert len(ids) == len(set(ids)) == 4
        assert daemon.stop() == 0
    ended = daemon.events("daemon_unblocked", since_start=False)
    assert [(e["reason"], e["looks"] >= 2) for e in ended] == [("disk_full", True)]


def test_a_locked_database_is_told_while_locked_once_and_its_end_after(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, hook: HttpReceiver
) -> None:
    daemon = with_hook(make_daemon(start_emulator()), hook_section("hook", hook))
    daemon.start()
    reject(daemon, "before.jsonl")
    wait_until("the first event told", lambda: hook.of("dataset_rejected"))
    wait_until("nothing left to send", lambda: no_open_delivery(daemon))

    holder = sqlite3.connect(daemon.state_dir / "ftd.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        wait_until(
            "the lock told while it lasts",
            lambda: hook.of("daemon_blocked"),
            timeout=BUSY_TIMEOUT_MS / 1000 + 20,
        )
        assert reasons(hook, "daemon_blocked") == ["database_locked"]
        # Sent from memory: the outbox has no row of it yet, nor could it have.
        rows = holder.execute("SELECT kind FROM notifications ORDER BY id").fetchall()
        assert [r[0] for r in rows] == ["dataset_rejected"]
        said = daemon.events("daemon_blocked")
        assert [e["reason"] for e in said] == ["database_locked"]
        assert "database is locked" in said[0]["message"]
    finally:
        holder.rollback()
        holder.close()

    wait_until("the end told", lambda: hook.of("daemon_unblocked"), timeout=30)
    assert reasons(hook, "daemon_unblocked") == ["database_locked"]
    reject(daemon, "after.jsonl")
    wait_until("the next event told", lambda: len(hook.of("dataset_rejected")) == 2)
    wait_until("nothing left to send", lambda: no_open_delivery(daemon))
    assert len(hook.of("daemon_blocked")) == 1
    recorded = daemon.query(
        "SELECT d.sent_at, d.attempts FROM notifications n JOIN notification_deliveries d "
        "ON d.notification_id = n.id WHERE n.kind = 'daemon_blocked'"
    )
    assert [(r["sent_at"] is not None, r["attempts"]) for r in recorded] == [(True, 1)]
    ids = [a["headers"]["webhook-id"] for a in hook.arrivals]
    assert len(ids) == len(set(ids)) == 4


def test_a_removed_destination_has_its_waiting_deliveries_dropped_not_resumed(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, hook: HttpReceiver
) -> None:
    gone = HttpReceiver()
    gone.down = True
    events = 'events = ["dataset_rejected"]'
    kept, removed = hook_section("hook", hook, events), hook_section("gone", gone, events)
    daemon = with_hook(make_daemon(start_emulator()), kept, removed)
    try:
        daemon.start()
        reject(daemon, "r1.jsonl")
        daemon.wait_for(
            "notification_attempt", lambda e: e["destination"] == "gone" and e["attempt"] >= 1
        )
        waiting = json.loads(daemon.ftd("status", "--json").stdout)["notifications"]
        assert {d["destination"]: d["pending"] for d in waiting}["gone"] == 1

        config = daemon.config_path.read_text()
        daemon.config_path.write_text(config.replace(removed, ""))
        reloaded = json.loads(daemon.ftd("reload", "--json").stdout)
        assert "notify" in reloaded["applied"], reloaded
        dropped = daemon.wait_for("notification_destination_dropped")
        assert (dropped["destination"], dropped["deliveries"]) == ("gone", 1)
        status = json.loads(daemon.ftd("status", "--json").stdout)
        entry = {d["destination"]: d for d in status["notifications"]}["gone"]
        assert (entry["pending"], entry["dropped"]) == (0, 1)
        assert not [w for w in status["warnings"] if "gone" in w["message"]]
        rows = daemon.query(
            "SELECT dropped_at, dropped_reason, sent_at FROM notification_deliveries "
            "WHERE destination = 'gone'"
        )
        assert len(rows) == 1  # kept, not deleted
        assert rows[0]["dropped_at"] is not None
        assert rows[0]["sent_at"] is None
        assert "removed from the configuration" in rows[0]["dropped_reason"]

        # Back under the same name: it gets what happens from then on, not the dropped.
        gone.down = False
        daemon.config_path.write_text(config)
        assert "notify" in json.loads(daemon.ftd("reload", "--json").stdout)["applied"]
        reject(daemon, "r2.jsonl")
        wait_until("r2 at the returned destination", lambda: gone.arrivals)
        wait_until("r2 at the kept one", lambda: len(hook.arrivals) == 2)
        wait_until("nothing left to send", lambda: no_open_delivery(daemon))
        assert [a["json"]["data"]["dataset"] for a in gone.arrivals] == ["r2.jsonl"]
        assert len(daemon.events("notification_destination_dropped")) == 1
    finally:
        gone.close()


# ----------------------------------------------------------------------------- against a store


async def _dispatcher(tmp_path: Path, receiver: HttpReceiver) -> tuple[Store, Dispatcher]:
    config = tmp_path / "config.toml"
    paths = f'[paths]\nstate_dir = "{tmp_path / "state"}"\nruntime_dir = "{tmp_path / "run"}"\n'
    config.write_text(paths + hook_section("hook", receiver))
    env = {"HOME": str(tmp_path), "OPENAI_API_KEY": "sk-x"}
    settings = load_settings(config, env=env)
    assert settings.paths.state_dir.is_relative_to(tmp_path)
    settings.paths.state_dir.mkdir()
    store = await Store.open(settings.paths.state_dir / "ftd.db")
    return store, Dispatcher(store, lambda: settings, environ={"TEST_HOOK_SECRET": "s"})


@pytest.mark.anyio
async def test_a_sent_message_whose_record_was_refused_is_recorded_later_not_sent_again(
    tmp_path: Path, hook: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, dispatcher = await _dispatcher(tmp_path, hook)
    try:
        async with store.transaction() as tx:
            await outbox.add(tx, "job_failed", "job ftjob-1", {"job_id": "ftjob-1"})
        await outbox.route(store, {"hook": {"job_failed"}})
        record = outbox.record_attempt

        async def refused(*args: Any, **kwargs: Any) -> None:
            raise sqlite3.OperationalError("database is locked")

        monkeypatch.setattr(outbox, "record_attempt", refused)
        with pytest.raises(sqlite3.OperationalError):
            await dispatcher._once("hook")
        assert len(hook.arrivals) == 1
        monkeypatch.setattr(outbox, "record_attempt", record)
        assert await dispatcher._once("hook") == notifier.IDLE_SECONDS  # recorded, not resent
        assert len(hook.arrivals) == 1
        rows = await store.read("SELECT sent_at, attempts FROM notification_deliveries")
        assert [(r["sent_at"] is not None, r["attempts"]) for r in rows] == [(True, 1)]
    finally:
        await store.close()


@pytest.mark.anyio
async def test_a_lock_is_told_from_memory_then_recorded_as_sent_and_its_end_queued(
    tmp_path: Path, hook: HttpReceiver
) -> None:
    store, dispatcher = await _dispatcher(tmp_path, hook)
    holder = sqlite3.connect(store.path, isolation_level=None)
    try:
        await store._db.execute("PRAGMA busy_timeout=200")  # not the 10 s of a daemon
        holder.execute("BEGIN EXCLUSIVE")
        for _ in range(3):  # three looks refused: one message
            await dispatcher.watch_once()
        assert reasons(hook, "daemon_blocked") == ["database_locked"]
        assert holder.execute("SELECT kind, dedupe FROM notifications").fetchall() == []
        holder.rollback()
        await dispatcher.watch_once()
        rows = await store.read(
            "SELECT n.kind, n.routed_at IS NOT NULL AS routed, d.sent_at IS NOT NULL AS sent "
            "FROM notifications n LEFT JOIN notification_deliveries d "
            "ON d.notification_id = n.id ORDER BY n.id"
        )
        assert [(r["kind"], r["routed"], r["sent"]) for r in rows] == [
            ("daemon_blocked", 1, 1),  # recorded as sent where it was sent
            ("daemon_unblocked", 0, 0),  # its end, for the workers to send
        ]
        assert len(hook.arrivals) == 1
    finally:
        holder.close()
        await store.close()
