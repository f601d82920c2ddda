"""A real ``ftd run`` under a stand-in for systemd: what it says on ``$NOTIFY_SOCKET``, and when."""

from __future__ import annotations

import itertools
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import write_dataset
from tests.systemd.receiver import Receiver

pytestmark = pytest.mark.slow
STATUS = r"\d+ jobs running(, \d+ queued)?, \d+ datasets waiting(, \d+ awaiting approval)?"


class Notifications:
    """What systemd would receive: each datagram with its wall-clock arrival time."""

    def __init__(self) -> None:
        self.address = f"@ftd-test-{uuid.uuid4().hex}"
        self._receiver = Receiver(b"\0" + self.address[1:].encode(), clock=time.time)

    @property
    def got(self) -> list[tuple[float, str]]:
        return self._receiver.got

    def times(self, first_line: str) -> list[float]:
        return [at for at, text in self.got if text.splitlines()[0] == first_line]

    def statuses(self) -> list[str]:
        """The status lines of the running daemon: those sent from READY=1 on."""
        found = []
        ready = False
        for _, text in self.got:
            ready = ready or text.splitlines()[0] == "READY=1"
            if ready:
                found += [line[7:] for line in text.splitlines() if line.startswith("STATUS=")]
        return found

    def wait(self, what: str, until: object = None, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until is not None and callable(until) and until():
                return
            if until is None and self.times(what):
                return
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout:g} s; got {self.got}")

    def close(self) -> None:
        self._receiver.close()


@pytest.fixture
def notifications() -> Iterator[Notifications]:
    found = Notifications()
    yield found
    found.close()


def test_ready_status_watchdog_then_stopping(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, notifications: Notifications
) -> None:
    daemon = make_daemon(start_emulator())
    daemon.start(env={"NOTIFY_SOCKET": notifications.address, "WATCHDOG_USEC": "1000000"})
    notifications.wait("READY=1")
    started = daemon.wait_for("daemon_started")
    ready_at = notifications.times("READY=1")[0]
    # READY only once everything runs: after the line that says so; before it, only
    # the steps of the start, each said as it is reached.
    assert ready_at >= datetime.fromisoformat(started["timestamp"]).timestamp()
    sent = [text for _, text in notifications.got]
    before = sent[: sent.index("READY=1\n")]
    assert before[0] == "STATUS=starting: database\n"
    assert "STATUS=starting: providers\n" in before
    assert all(re.fullmatch(r"STATUS=starting: [a-z]+\n", text) for text in before), before
    assert daemon.socket.exists()

    # The status line follows what happens to a dropped dataset.
    write_dataset(daemon.incoming / "faq.jsonl")
    notifications.wait("STATUS", until=lambda: len(set(notifications.statuses())) >= 2)
    statuses = notifications.statuses()
    assert statuses[0] == "0 jobs running, 0 datasets waiting"
    assert all(re.fullmatch(STATUS, text) for text in statuses), statuses
    assert all(a != b for a, b in itertools.pairwise(statuses)), "sent only when it changed"

    # WATCHDOG_USEC=1 s: a ping every half second.
    time.sleep(2.0)
    pings = notifications.times("WATCHDOG=1")
    gaps = sorted(b - a for a, b in itertools.pairwise(pings))
    assert len(pings) >= 4
    assert 0.4 <= gaps[len(gaps) // 2] <= 0.65, gaps
    assert min(pings) >= ready_at

    signalled = time.time()
    assert daemon.stop() == 0
    stopping = notifications.times("STOPPING=1")
    assert len(stopping) == 1
    assert stopping[0] >= signalled
    assert notifications.got[-1][1].startswith("STOPPING=1\n"), "nothing after STOPPING"


def test_a_watchdog_abort_leaves_a_traceback(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    daemon = make_daemon(start_emulator())
    daemon.start()
    os.kill(daemon.pid, signal.SIGABRT)  # what systemd sends when the pings stop
    deadline = time.monotonic() + 10
    while "Fatal Python error: Aborted" not in daemon.log_text():
        assert time.monotonic() < deadline, daemon.log_text()[-2000:]
        time.sleep(0.05)
    time.sleep(0.5)  # the rest of the dump
    text = daemon.log_text()
    dump = text[text.index("Fatal Python error: Aborted") :]
    # Every thread, the event loop's (the main one) with where it was.
    assert re.search(r"Current thread 0x[0-9a-f]+ \(most recent call first\):\n  File ", dump)
    assert "aiosqlite" in dump, dump
