"""The daemon's hold on its database: it waits for one it cannot open yet, and stops loudly
when the one it has is removed or replaced (case 10)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from ftd.daemon.clockjump import ClockWatch, step
from ftd.store import Store
from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.security.conftest import STOP_SECONDS, wait_until
from tests.systemd.receiver import Receiver

EXIT_DATABASE_GONE = 74


def test_case_10_a_locked_database_at_start_is_waited_for_and_said_to_systemd(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    daemon = make_daemon(start_emulator())
    daemon.state_dir.mkdir(mode=0o700, parents=True)
    database = daemon.state_dir / "ftd.db"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds it, as a backup tool might
    address = f"@ftd-test-{uuid.uuid4().hex}"
    receiver = Receiver(b"\0" + address[1:].encode())
    try:
        daemon.start(wait=False, env={"NOTIFY_SOCKET": address})
        daemon.wait_for("database_unavailable", timeout=60)

        def said() -> bool:
            return any("STATUS=waiting for the database" in m for m in receiver.messages())

        held = wait_until("STATUS saying why it waits", said, timeout=60)
        assert not daemon.events("daemon_started")
        shown = daemon.ftd("status")  # the socket answers meanwhile, and says why
        assert shown.returncode == 0, shown.stderr
        assert "starting: database" in shown.stdout
        holder.execute("ROLLBACK")
        holder.close()
        daemon.wait_for("daemon_started", timeout=90)
        assert any("READY=1" in m for m in receiver.messages())
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        started = time.monotonic()
        assert daemon.stop(timeout=STOP_SECONDS) == 0
        print(
            f"case 10: waited on a locked database, said so {held:.2f} s after the wait "
            f"began; stopped {time.monotonic() - started:.2f} s after SIGTERM"
        )
    finally:
        receiver.close()


def test_case_10_a_database_removed_or_replaced_under_the_daemon_stops_it_loudly(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    emulator = start_emulator()
    for how in ("removed", "replaced"):
        daemon = make_daemon(emulator)
        daemon.start()
        database = daemon.state_dir / "ftd.db"
        started = time.monotonic()
        if how == "removed":
            database.unlink()
        else:
            copy = tmp_path / f"copy-{how}.db"
            shutil.copyfile(database, copy)
            copy.replace(database)
        assert daemon.wait_exit(30) == EXIT_DATABASE_GONE, how
        seconds = time.monotonic() - started
        gone = daemon.events("database_gone")
        assert gone, f"{how}: no database_gone line"
        assert gone[0]["level"] == "critical"
        print(f"case 10: database {how}, the daemon stopped {seconds:.2f} s later")


@pytest.mark.anyio
async def test_case_10_a_wall_clock_set_back_keeps_a_back_off_as_long_as_meant(
    store: Store,
) -> None:
    """A 4 s back-off, then the wall clock goes back 2 h: it is still due in about 4 s."""
    now = [1_000_000.0]
    ticks = [50.0]
    watch = ClockWatch(wall=lambda: now[0], monotonic=lambda: ticks[0])
    row = await store.add_dataset(sha256="ab" * 32, name="x.jsonl", path="/x", size_bytes=1)
    await store.postpone(row.id, now[0] + 4.0, "the provider said 429")
    woken: list[bool] = []
    now[0] -= 2 * 3600  # set back; hardly any time passed
    ticks[0] += 0.5
    jumped = await step(store, watch, lambda: woken.append(True))
    assert round(jumped) == -2 * 3600
    due = (await store.dataset(row.id)).next_attempt_at  # type: ignore[union-attr]
    assert due is not None
    assert 3.0 <= due - now[0] <= 4.0
    assert woken == [True]
    ticks[0] += 1.0
    now[0] += 1.0  # time going on as usual moves nothing
    assert await step(store, watch, lambda: woken.append(True)) == 0.0


def test_case_10_a_full_state_disk_at_start_is_waited_for(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    """The state directory on a small file system, filled to the last byte between two runs."""
    daemon = make_daemon(start_emulator())
    daemon.state_dir.mkdir(parents=True)
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("needs mount")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(daemon.state_dir)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()!r}")
    filler = daemon.state_dir / "filler.bin"
    try:
        daemon.start()
        assert daemon.stop(timeout=STOP_SECONDS) == 0
        with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
        daemon.start(wait=False)
        waited = daemon.wait_for("database_unavailable", timeout=60)
        why = waited["error"].rsplit(": ", 1)[-1]  # SQLite says I/O error for a full tmpfs
        assert why in ("database or disk is full", "disk I/O error") or "No space" in why, why
        filler.unlink()
        daemon.wait_for("daemon_started", timeout=90)
        assert daemon.stop(timeout=STOP_SECONDS) == 0
    finally:
        daemon.close()
        subprocess.run(["/usr/bin/umount", "-l", str(daemon.state_dir)], check=False)
