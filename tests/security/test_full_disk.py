"""A full disk at start-up, before the database: the folders, the lock file and the control
socket wait for room, say why, and go on once there is some (case 10)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import small_tmpfs
from tests.security.conftest import STOP_SECONDS


def fill_inodes(folder: Path) -> list[Path]:
    """Empty files until the file system has no inode left: nothing new can be created."""
    made: list[Path] = []
    with contextlib.suppress(OSError):
        for number in range(10_000):
            path = folder / f"filler-{number}"
            path.touch()
            made.append(path)
    return made


@pytest.mark.parametrize("step", ["state folders", "lock file", "control socket"])
def test_case_10_a_full_disk_before_the_database_is_waited_for(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, step: str
) -> None:
    daemon = make_daemon(start_emulator())
    full = daemon.root / "run" if step == "control socket" else daemon.state_dir
    try:
        with small_tmpfs(full):
            if step == "lock file":
                for name in ("splits", "snapshots"):  # the folders exist; the lock cannot
                    (full / name).mkdir(mode=0o700)
            fillers = fill_inodes(full)
            assert fillers
            daemon.start(wait=False)
            waited = daemon.wait_for("startup_waiting", timeout=60)
            assert waited["step"] == step
            assert "No space left on device" in waited["error"]
            assert not daemon.events("daemon_started")
            for filler in fillers:
                filler.unlink()
            resumed = daemon.wait_for("startup_resumed", timeout=90)
            assert resumed["step"] == step
            daemon.wait_for("daemon_started", timeout=90)
            assert daemon.stop(timeout=STOP_SECONDS) == 0
    finally:
        daemon.close()
