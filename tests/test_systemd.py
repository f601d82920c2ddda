"""systemd's protocols against real sockets: notify datagrams, inherited listeners, journald."""

from __future__ import annotations

import io
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import structlog

from ftd import logs
from ftd.systemd import (
    Notifier,
    SystemdError,
    journal_stream_matches,
    keep_alive,
    listen_fds,
    named_listen_fds,
    watchdog_interval,
)
from tests.systemd.receiver import Receiver

pytestmark = pytest.mark.anyio


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # A socket path holds 107 bytes; pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="ftd-") as name:
        yield Path(name)


@pytest.fixture
def path_receiver(short_dir: Path) -> Iterator[tuple[str, Receiver]]:
    path = str(short_dir / "notify.sock")
    receiver = Receiver(path)
    yield path, receiver
    receiver.close()


@pytest.fixture
def abstract_receiver() -> Iterator[tuple[str, Receiver]]:
    name = f"ftd-test-{uuid.uuid4().hex}"
    receiver = Receiver(b"\0" + name.encode())
    yield "@" + name, receiver
    receiver.close()


# ----------------------------------------------------------------------------- Notifier


def test_each_message_reaches_a_path_socket(path_receiver: tuple[str, Receiver]) -> None:
    path, receiver = path_receiver
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready()
    assert notifier.status("2 jobs running,\n1 waiting")
    assert notifier.watchdog()
    assert notifier.stopping()
    assert notifier.send(EXTEND_TIMEOUT_USEC=5_000_000)
    assert receiver.wait(5) == [
        "READY=1\n",
        "STATUS=2 jobs running, 1 waiting\n",
        "WATCHDOG=1\n",
        "STOPPING=1\nSTATUS=stopping\n",
        "EXTEND_TIMEOUT_USEC=5000000\n",
    ]
    notifier.close()


def test_abstract_names_and_reload_timestamp(abstract_receiver: tuple[str, Receiver]) -> None:
    address, receiver = abstract_receiver
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.ready("reloaded")
    first, second = receiver.wait(2)
    fields = dict(line.split("=", 1) for line in first.splitlines())
    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after
    assert second == "READY=1\nSTATUS=reloaded\n"
    notifier.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert (notifier.sent, notifier.failed) == (0, 0)


def test_from_env_removes_the_variables_children_must_not_inherit(short_dir: Path) -> None:
    env = {"NOTIFY_SOCKET": str(short_dir / "n"), "WATCHDOG_USEC": "4000000", "PATH": "/bin"}
    notifier = Notifier.from_env(env)
    assert env == {"PATH": "/bin"}
    assert notifier.watchdog_interval == 2.0
    frozen = types.MappingProxyType({"NOTIFY_SOCKET": "@x"})
    assert Notifier.from_env(frozen).address == "@x"  # a read-only mapping is left as it is


def test_send_failures_are_logged_once_and_never_raise(short_dir: Path) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(short_dir / "nobody-listens")})
    with structlog.testing.capture_logs() as captured:
        results = [notifier.ready(), notifier.watchdog(), notifier.status("x")]
    notifier.close()
    assert results == [False, False, False]
    assert notifier.failed == 3
    failures = [e for e in captured if e["event"] == "systemd_notify_failed"]
    assert len(failures) == 1
    assert failures[0]["socket"].endswith("nobody-listens")
    assert failures[0]["message"] == "READY=1"


def test_field_names_are_checked(path_receiver: tuple[str, Receiver]) -> None:
    notifier = Notifier(path_receiver[0])
    with pytest.raises(SystemdError, match="'ready'"):
        notifier.send(ready=1)
    assert notifier.sent == 0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "3000000"}, 1.5),
        ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}, 1.5),
        ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(
    env: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(env) == expected


# ----------------------------------------------------------------------------- keep_alive


def _times(receiver: Receiver, prefix: str) -> list[float]:
    return [at for at, text in receiver.got if text.startswith(prefix)]


async def test_keep_alive_pings_at_its_interval_and_sends_changed_status(
    path_receiver: tuple[str, Receiver],
) -> None:
    path, receiver = path_receiver
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    assert notifier.watchdog_interval == 0.1
    calls = 0

    async def status_text() -> str:
        nonlocal calls
        calls += 1
        return f"{calls // 3} jobs running"  # changes every third reading

    async with anyio.create_task_group() as tg:
        await tg.start(keep_alive, notifier, status_text)
        await anyio.sleep(1.0)
        tg.cancel_scope.cancel()
    notifier.close()
    pings = _times(receiver, "WATCHDOG=1")
    assert 8 <= len(pings) <= 12, pings
    gaps = sorted(b - a for a, b in itertools.pairwise(pings))
    assert 0.08 <= gaps[len(gaps) // 2] <= 0.15, gaps
    statuses = [text for text in receiver.messages() if text.startswith("STATUS=")]
    # Read each 0.1 s (the watchdog is the shorter period), sent only when changed.
    assert calls >= 8
    assert statuses == [f"STATUS={n} jobs running\n" for n in range(calls // 3 + 1)]


async def test_keep_alive_without_watchdog_refreshes_status_only(
    path_receiver: tuple[str, Receiver],
) -> None:
    path, receiver = path_receiver
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    texts = iter(["idle", "idle", "1 jobs running"])

    async def status_text() -> str:
        return next(texts, "1 jobs running")

    async with anyio.create_task_group() as tg:
        await tg.start(
            lambda task_status: keep_alive(
                notifier, status_text, status_seconds=0.05, task_status=task_status
            )
        )
        await anyio.sleep(0.4)
        tg.cancel_scope.cancel()
    notifier.close()
    assert receiver.wait(2) == ["STATUS=idle\n", "STATUS=1 jobs running\n"]


async def test_keep_alive_survives_a_failing_status_reader(
    path_receiver: tuple[str, Receiver],
) -> None:
    path, receiver = path_receiver
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})

    async def status_text() -> str:
        raise RuntimeError("database is closed")

    with structlog.testing.capture_logs() as captured:
        async with anyio.create_task_group() as tg:
            await tg.start(keep_alive, notifier, status_text)
            await anyio.sleep(0.3)
            tg.cancel_scope.cancel()
    notifier.close()
    assert len(_times(receiver, "WATCHDOG=1")) >= 4
    assert any(e["event"] == "systemd_status_failed" for e in captured)


async def test_a_blocked_loop_sends_no_watchdog(path_receiver: tuple[str, Receiver]) -> None:
    path, receiver = path_receiver
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})

    async def status_text() -> str:
        return "busy"

    async with anyio.create_task_group() as tg:
        await tg.start(keep_alive, notifier, status_text)
        await anyio.sleep(0.3)
        blocked_at = time.monotonic()
        time.sleep(0.8)  # noqa: ASYNC251 - the point: a synchronous call that blocks the loop
        unblocked_at = time.monotonic()
        await anyio.sleep(0.3)
        tg.cancel_scope.cancel()
    notifier.close()
    pings = _times(receiver, "WATCHDOG=1")
    # A datagram sent just before the block may be read a moment later.
    during = [t for t in pings if blocked_at + 0.05 < t < unblocked_at]
    assert during == [], (blocked_at, unblocked_at, pings)
    assert len([t for t in pings if t < blocked_at]) >= 4
    assert len([t for t in pings if t >= unblocked_at]) >= 2


async def test_keep_alive_is_idle_without_notify_socket() -> None:
    calls = 0

    async def status_text() -> str:
        nonlocal calls
        calls += 1
        return "x"

    with anyio.fail_after(1):
        await keep_alive(Notifier(None, watchdog_interval=0.01), status_text)
    assert calls == 0


# ----------------------------------------------------------------------------- listen_fds

# Started as systemd starts a socket-activated service: the listener on fd 3,
# LISTEN_PID set to the pid that exec() keeps.
_LAUNCH = """
import os, sys
os.dup2(int(sys.argv[1]), 3, inheritable=True)
os.close(int(sys.argv[1]))
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", LISTEN_FDNAMES="control")
os.execv(sys.executable, [sys.executable, "-c", sys.argv[2]])
"""
_SERVE = """
import json, os
from ftd.systemd import named_listen_fds
found = named_listen_fds()
name, sock = found[0]
print(json.dumps({
    "count": len(found), "name": name, "fd": sock.fileno(),
    "family": sock.family.name, "type": sock.type.name,
    "inheritable": os.get_inheritable(3),
    "left": sorted(k for k in os.environ if k.startswith("LISTEN_")),
}), flush=True)
connection, _ = sock.accept()
connection.sendall(b"hello from fd 3")
connection.close()
"""


def test_listen_fds_takes_an_inherited_listener(short_dir: Path) -> None:
    path = str(short_dir / "control.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    child = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, str(listener.fileno()), _SERVE],
        pass_fds=[listener.fileno()],
        stdout=subprocess.PIPE,
        text=True,
    )
    listener.close()  # the child holds it now, as a service holds systemd's
    with child:
        try:
            assert child.stdout is not None
            report = json.loads(child.stdout.readline())
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(5)
                client.connect(path)
                assert client.recv(100) == b"hello from fd 3"
            assert child.wait(10) == 0
        finally:
            if child.poll() is None:
                child.kill()
    assert report == {
        "count": 1,
        "name": "control",
        "fd": 3,
        "family": "AF_UNIX",
        "type": "SOCK_STREAM",
        "inheritable": False,
        "left": [],
    }


def test_listen_fds_ignores_another_process_sockets() -> None:
    env = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"}
    assert listen_fds(env) == []
    assert env == {}
    assert named_listen_fds({}) == []


def test_listen_fds_rejects_a_malformed_count() -> None:
    with pytest.raises(SystemdError, match="LISTEN_FDS"):
        listen_fds({"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "two"})


# ----------------------------------------------------------------------------- journald


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_journal_stream_is_recognised_by_device_and_inode(tmp_path: Path) -> None:
    with (tmp_path / "a").open("w") as ours, (tmp_path / "b").open("w") as other:
        found = os.fstat(ours.fileno())
        env = {"JOURNAL_STREAM": f"{found.st_dev}:{found.st_ino}"}
        assert journal_stream_matches(ours, env)
        assert not journal_stream_matches(other, env)
        assert not journal_stream_matches(ours, {})
        assert not journal_stream_matches(ours, {"JOURNAL_STREAM": "garbage"})
        assert not journal_stream_matches(io.StringIO(), env)


@pytest.mark.usefixtures("restore_logging")
def test_log_lines_carry_the_syslog_level_when_journald_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "journal").open("w") as stream:
        found = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{found.st_dev}:{found.st_ino}")
        logs.configure(stream=stream, level="debug", json=True)
        log = logs.get_logger("ftd.test")
        log.debug("d")
        log.info("job_state", job_id="ftjob-1")
        log.warning("w")
        log.error("e")
        log.critical("c")
    lines = (tmp_path / "journal").read_text().splitlines()
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>", "<2>"]
    assert json.loads(lines[1][3:])["job_id"] == "ftjob-1"


@pytest.mark.usefixtures("restore_logging")
def test_log_lines_are_plain_json_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "other").open("w") as journal, (tmp_path / "file").open("w") as stream:
        found = os.fstat(journal.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{found.st_dev}:{found.st_ino}")
        logs.configure(stream=stream, json=True)
        logs.get_logger("ftd.test").warning("w")
    line = (tmp_path / "file").read_text()
    assert json.loads(line)["level"] == "warning"
