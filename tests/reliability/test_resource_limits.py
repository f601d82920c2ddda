"""A full disk, a read-only drop folder, a locked database: clear errors, no harm, recovery.

Each condition is made for real where the machine allows it (tmpfs and bind
mounts need root and a kernel that lets the test mount) and skipped with the
reason where it does not, unless CI is set, where that is a failure. The
daemon must name the condition in its log, keep running and answering
``ftd status``, leave every file where it can be found, keep its database
intact (``PRAGMA integrity_check``), and finish the work once the condition
ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import Daemon, good_lines


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this must run)")
    pytest.skip(reason)


def _run(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(args[0])
    if tool is None:
        _unavailable(f"no {args[0]} command here")
    assert tool is not None
    return subprocess.run([tool, *args[1:]], capture_output=True, text=True, check=check)


def _mount(*args: str) -> None:
    done = _run("mount", *args)
    if done.returncode != 0:
        _unavailable(f"mount {' '.join(args)} failed: {done.stderr.strip()}")


@contextlib.contextmanager
def _mounted(*args: str, at: Path) -> Iterator[Path]:
    """Mount (skipping the test when that cannot be done here); unmounted at the end."""
    if os.geteuid() != 0:
        _unavailable("mounting a file system needs root")
    at.mkdir(parents=True, exist_ok=True)
    _mount(*args, str(at))
    try:
        yield at
    finally:
        _run("umount", "-l", str(at))


def _fill(directory: Path) -> Path:
    """A file that takes every free byte of ``directory``'s file system."""
    filler = directory / "filler.bin"
    with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
    return filler


def _stage(daemon: Daemon, name: str, lines: list[str]) -> Path:
    staged = daemon.drop / "staging" / name
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_text("\n".join(lines) + "\n")
    return staged


def _intact(daemon: Daemon) -> None:
    assert [tuple(r) for r in daemon.query("PRAGMA integrity_check")] == [("ok",)]
    status = daemon.ftd("status")
    assert status.returncode == 0, status.stderr


def test_a_full_disk_holds_work_back_until_there_is_room(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    # Three small file systems: the state (the database), the splits under it, the drop folder.
    with (
        _mounted("-t", "tmpfs", "-o", "size=8m", "tmpfs", at=daemon.state_dir) as state,
        _mounted("-t", "tmpfs", "-o", "size=1m", "tmpfs", at=state / "splits") as splits,
        _mounted("-t", "tmpfs", "-o", "size=8m", "tmpfs", at=daemon.drop) as drop,
    ):
        daemon.incoming.mkdir()
        daemon.start()
        later = _stage(daemon, "later.jsonl", good_lines(120, seed="later "))
        bad = _stage(daemon, "bad.jsonl", ["{not json"] * 20)

        # No room for the splits: validated, then waits, counting no failure.
        splits_filler = _fill(splits)
        os.replace(
            _stage(daemon, "split.jsonl", good_lines(120, seed="split ")),
            daemon.incoming / "split.jsonl",
        )
        waiting = daemon.wait_for("dataset_waiting", timeout=30)
        assert "No space left on device" in waiting["error"]

        # No room in the drop folder for a rejection's report: held, not lost.
        drop_filler = _fill(drop)
        os.replace(bad, daemon.incoming / "bad.jsonl")
        blocked = daemon.wait_for("stage_blocked", timeout=30)
        assert "No space left on device" in blocked["error"]

        # No room in the state directory (for ftd's copy of the file, then the
        # database): the file stays in incoming/, the reason in the log.
        state_filler = _fill(state)
        os.replace(later, daemon.incoming / "later.jsonl")
        failed = daemon.wait_for(
            "incoming_claim_failed", lambda e: e["file"] == "later.jsonl", timeout=30
        )
        assert "No space left on device" in failed["error"] or "disk is full" in failed["error"]
        assert (daemon.incoming / "later.jsonl").exists()
        _intact(daemon)

        for filler in (state_filler, drop_filler, splits_filler):
            filler.unlink()
        daemon.wait_dataset("later.jsonl", "submitted", timeout=60)
        daemon.wait_dataset("split.jsonl", "submitted", timeout=60)
        daemon.wait_dataset("bad.jsonl", "rejected", timeout=60)
        assert (daemon.drop / "rejected" / "bad.errors.json").is_file()
        assert daemon.dataset("split.jsonl")["attempts"] == 0
        _intact(daemon)
        assert daemon.stop() == 0


def test_a_read_only_drop_folder_leaves_files_in_place_until_it_is_writable(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    if os.geteuid() == 0:
        # Root ignores mode bits: make the folder read-only for real, by a read-only
        # bind mount of it; files still arrive through the writable original.
        writable = tmp_path / "drop-real"
        (writable / "incoming").mkdir(parents=True)
        for part in ("processing", "processed", "rejected", "staging"):
            (writable / part).mkdir()
        with _mounted("--bind", str(writable), at=daemon.drop):
            _mount("-o", "remount,ro,bind", str(daemon.drop))
            _read_only_then_writable(daemon, writable, lambda: _remount_rw(daemon.drop))
    else:
        incoming = daemon.incoming
        incoming.chmod(0o555)
        try:
            _read_only_then_writable(daemon, daemon.drop, lambda: incoming.chmod(0o755))
        finally:
            incoming.chmod(0o755)


def _remount_rw(path: Path) -> None:
    _run("mount", "-o", "remount,rw,bind", str(path), check=True)


def _read_only_then_writable(daemon: Daemon, writable: Path, make_writable: object) -> None:
    assert callable(make_writable)
    daemon.start()
    data = ("\n".join(good_lines(120, seed="ro ")) + "\n").encode()
    staged = writable / "staging" / "ro.jsonl"
    staged.write_bytes(data)
    os.replace(staged, writable / "incoming" / "ro.jsonl")
    failed = daemon.wait_for("incoming_claim_failed", lambda e: e["file"] == "ro.jsonl")
    assert "Read-only file system" in failed["error"] or "Permission denied" in failed["error"]
    time.sleep(2.0)  # a few more looks: the file is not recorded twice
    rows = daemon.query("SELECT state FROM datasets WHERE name = 'ro.jsonl'")
    assert [r["state"] for r in rows] == ["detected"]
    assert (daemon.incoming / "ro.jsonl").read_bytes() == data
    _intact(daemon)

    make_writable()
    daemon.wait_dataset("ro.jsonl", "submitted", timeout=60)
    assert (daemon.drop / "processed" / "ro.jsonl").read_bytes() == data
    assert len(daemon.query("SELECT id FROM datasets")) == 1
    _intact(daemon)
    assert daemon.stop() == 0


def test_a_database_locked_by_another_process_delays_but_breaks_nothing(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    daemon.wait_for("daemon_started")
    holder = sqlite3.connect(daemon.state_dir / "ftd.db", timeout=30, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        data = ("\n".join(good_lines(120, seed="locked ")) + "\n").encode()
        staged = daemon.drop / "staging" / "locked.jsonl"
        staged.parent.mkdir(exist_ok=True)
        staged.write_bytes(data)
        os.replace(staged, daemon.incoming / "locked.jsonl")
        # Longer than the daemon's 10 s busy timeout: its first write gives up.
        answers: list[float] = []
        while time.monotonic() - locked_at < 12.5:
            asked = time.monotonic()
            status = daemon.ftd("status", "--json")
            assert status.returncode == 0, status.stderr
            answers.append(time.monotonic() - asked)
            time.sleep(0.5)
        # Whichever writer met the lock first (the claim, the tracker) said so, and the
        # notifier told of the blocked daemon.
        said = [e for e in daemon.events() if "database is locked" in json.dumps(e)]
        writers = {"incoming_claim_failed", "tracker_error", "daemon_blocked"}
        assert {e["event"] for e in said} <= writers, said
        assert said
        # The socket reads beside the waiting writer: status never waited for the lock.
        assert max(answers) < 5.0, answers
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    daemon.wait_dataset("locked.jsonl", "submitted", timeout=60)
    assert (daemon.drop / "processed" / "locked.jsonl").read_bytes() == data
    _intact(daemon)
    assert daemon.stop() == 0
