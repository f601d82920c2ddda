"""Fixtures for the producers-who-distrust-each-other suite: real users, the shipped layout,
a real daemon (as root) over it, and the checks every test ends with."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import make_daemon, start_emulator  # noqa: F401 - fixtures
from tests.daemon.harness import Daemon, Emulator, run_ftd
from tests.security.people import People, User, lay_out, make_people, open_base, prerequisites

# TimeoutStopSec in systemd/ftd.service: past it, systemd would kill the daemon.
STOP_SECONDS = 20.0

_missing = prerequisites()
if _missing is not None:
    pytest.skip(f"tests/security: {_missing}", allow_module_level=True)


@pytest.fixture(scope="session")
def people() -> Iterator[People]:
    made = make_people(f"{os.getpid() % 100000}")
    try:
        yield made
    finally:
        from tests.security.people import remove_people

        remove_people(made)


@pytest.fixture
def spool(people: People) -> Iterator[Path]:
    """The drop folder laid out by the shipped tmpfiles.d entry, in a folder all may pass."""
    base = open_base()
    folder = base / "spool"
    lay_out(folder, people)
    yield folder
    shutil.rmtree(base, ignore_errors=True)


@dataclass
class Setup:
    daemon: Daemon
    emulator: Emulator
    spool: Path
    people: People
    socket: Path
    database_inode: int = 0

    @property
    def incoming(self) -> Path:
        return self.spool / "incoming"

    @property
    def database(self) -> Path:
        return self.daemon.state_dir / "ftd.db"

    def drop(self, user: User, name: str, data: bytes, *, umask: int = 0o022) -> None:
        """``user`` writes a file under a hidden name and renames it into incoming/."""
        target = self.incoming / name
        user.run(
            "import os\n"
            f"t = {str(target)!r}\n"
            "p = os.path.join(os.path.dirname(t), '.' + os.path.basename(t) + '.part')\n"
            f"open(p, 'wb').write({data!r})\n"
            "os.rename(p, t)\n",
            umask=umask,
        )

    def settled(self, name: str, state: str, *, timeout: float = 60.0) -> sqlite3.Row:
        """The dataset once in ``state`` with all its files moved (a state commits first)."""
        row = self.daemon.wait_dataset(name, state, timeout=timeout)

        def moved() -> bool:
            return not self.daemon.query(
                "SELECT role FROM dataset_files WHERE dataset_id = ? AND moving_from IS NOT NULL",
                (row["id"],),
            )

        wait_until(f"{name}'s files moved", moved, timeout=timeout)
        return row

    def ended(self) -> None:
        """What every test ends with: the database whole and the same file, the daemon
        answering, and stopping on SIGTERM within systemd's stop timeout."""
        assert self.database.stat().st_ino == self.database_inode, "the database was replaced"
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        status = run_ftd("status", "--json", "--socket", str(self.socket), timeout=30)
        assert status.returncode == 0, status.stderr
        started = time.monotonic()
        assert self.daemon.stop(timeout=STOP_SECONDS) == 0
        self.stopped_in = time.monotonic() - started


MakeSetup = Callable[..., Setup]


@pytest.fixture
def secured(
    people: People,
    spool: Path,
    start_emulator: Callable[..., Emulator],  # noqa: F811
    make_daemon: Callable[..., Daemon],  # noqa: F811
) -> MakeSetup:
    """A running daemon over the shipped layout; ``extra`` adds config sections."""

    def make(**extra: dict[str, Any]) -> Setup:
        emulator = start_emulator()
        sections: dict[str, dict[str, Any]] = {
            "paths": {"drop_dir": str(spool)},
            "control": {"admin_group": people.admin_group},
        }
        for section, keys in extra.items():
            sections.setdefault(section, {}).update(keys)
        daemon = make_daemon(emulator, **sections)
        daemon.start()
        socket = Path(sections["control"].get("socket", daemon.socket))
        setup = Setup(daemon, emulator, spool, people, socket)
        setup.database_inode = setup.database.stat().st_ino
        return setup

    return make


def good_jsonl(count: int, *, seed: str = "") -> bytes:
    from tests.daemon.harness import good_lines

    return ("\n".join(good_lines(count, seed=seed)) + "\n").encode()


def wait_until(what: str, check: Callable[[], bool], *, timeout: float = 60.0) -> float:
    """Seconds until ``check`` held; fails naming ``what`` after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)
    return time.monotonic() - started
