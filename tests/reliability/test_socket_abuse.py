"""The control socket under abuse, while a well-behaved client keeps asking for ``status``.

Against a real daemon: random bytes, half requests (closed, and left hanging),
a request over ``control.max_request_bytes``, 500 connections opened and left
idle (over ``control.max_clients``: the longest idle make room), and clients
that start a stream and never read it. Throughout, a prober connects every
0.2 s and asks for ``status``; every one of its requests must be answered,
promptly.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import Daemon

MAX_CLIENTS = 64
MAX_REQUEST = 65_536
PROMPT_SECONDS = 2.0  # the slowest status answer allowed while all this goes on
FAKE_JOB = "ftjob-socket-abuse"


def _connect(path: Path, timeout: float = 10.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Blocking while connecting: with the listen backlog full, a Unix socket with
    # a timeout fails at once (EAGAIN) instead of waiting its turn.
    sock.connect(str(path))
    sock.settimeout(timeout)
    return sock


def _answers(sock: socket.socket, count: int = 1) -> list[dict[str, Any]]:
    """Up to ``count`` answer lines, fewer if the server closes first."""
    data = b""
    with contextlib.suppress(OSError):
        while data.count(b"\n") < count:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return [json.loads(line) for line in data.splitlines()[:count]]


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (reset, as it had unread bytes, or not)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _request(cmd: str, request_id: int = 1, **args: Any) -> bytes:
    return json.dumps({"v": 1, "id": request_id, "cmd": cmd, "args": args}).encode() + b"\n"


class Prober(threading.Thread):
    """Asks ``status`` on a new connection every ``interval`` s; keeps each round trip."""

    def __init__(self, path: Path, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self._path = path
        self._interval = interval
        self._halt = threading.Event()
        self.rounds: list[tuple[float, bool]] = []

    def run(self) -> None:
        n = 0
        while not self._halt.wait(self._interval):
            n += 1
            started = time.monotonic()
            try:
                with _connect(self._path) as sock:
                    sock.sendall(_request("status", n))
                    [answer] = _answers(sock)
                ok = answer["ok"] is True and answer["id"] == n
            except (OSError, ValueError):
                ok = False
            self.rounds.append((time.monotonic() - started, ok))

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _fake_finished_job(daemon: Daemon, events: int) -> None:
    """A finished job with many stored events: a follow of it starts with a big answer."""
    now = time.time()
    with sqlite3.connect(daemon.state_dir / "ftd.db", timeout=30) as db:
        db.execute(
            "INSERT INTO jobs (job_id, status, model, created_at, updated_at, finished_at) "
            "VALUES (?, 'succeeded', 'gpt-4.1-mini-2025-04-14', ?, ?, ?)",
            (FAKE_JOB, now, now, now),
        )
        db.executemany(
            "INSERT INTO job_events (event_id, job_id, created_at, level, type, message) "
            "VALUES (?, ?, ?, 'info', 'message', ?)",
            [
                (f"ftevent-{i}", FAKE_JOB, int(now) + i, f"step {i}: " + "x" * 200)
                for i in range(events)
            ],
        )


def test_the_daemon_keeps_answering_through_socket_abuse(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(
        emulator, control={"max_clients": MAX_CLIENTS, "max_request_bytes": MAX_REQUEST}
    )
    daemon.start()
    _fake_finished_job(daemon, 3000)
    prober = Prober(daemon.socket)
    prober.start()
    held: list[socket.socket] = []
    try:
        rng = random.Random(10)
        # Random bytes, some with newlines: each line gets an error answer, or the
        # connection is closed; nothing else happens.
        for _ in range(20):
            with _connect(daemon.socket) as sock:
                sock.sendall(rng.randbytes(4096))
        with _connect(daemon.socket) as sock:
            sock.sendall(b'\x00\xff garbage\n[1, 2]\n{"cmd": 7}\n' + _request("status", 9))
            answers = _answers(sock, 4)
        assert [a["ok"] for a in answers] == [False, False, False, True]
        assert {a["error"]["code"] for a in answers[:3]} == {"bad_request"}

        # Half requests: closed at once, and left hanging open.
        for _ in range(20):
            with _connect(daemon.socket) as sock:
                sock.sendall(b'{"v": 1, "id": 1, "cmd": "sta')
        for _ in range(20):
            hanging = _connect(daemon.socket)
            hanging.sendall(b'{"v": 1, "id": 1, "cmd": "sta')
            held.append(hanging)

        # Over the request limit: one answer saying so, then the connection is closed.
        with _connect(daemon.socket) as sock:
            with contextlib.suppress(OSError):  # the server may close while we still send
                sock.sendall(b"x" * (4 * MAX_REQUEST))
            [answer] = _answers(sock)
            assert answer["error"]["code"] == "too_large"
            assert _closed(sock)
        with _connect(daemon.socket) as sock:
            line = json.dumps(
                {"v": 1, "id": 1, "cmd": "status", "args": {"pad": "y" * MAX_REQUEST}}
            )
            with contextlib.suppress(OSError):
                sock.sendall(line.encode() + b"\n")
            assert _answers(sock)[0]["error"]["code"] == "too_large"

        # Streams that are never read: the follow's first answer alone is more than
        # the socket holds, so the server gives up on it after its write timeout.
        for cmd, args in (
            ("follow", {"job": FAKE_JOB, "limit": 3000}),
            ("watch", {"interval": 0.1}),
        ):
            stalled = _connect(daemon.socket)
            stalled.sendall(_request(cmd, 1, **args))
            held.append(stalled)
        stalled_at = time.monotonic()

        # 500 connections opened and left idle: the longest idle make room.
        idle = [_connect(daemon.socket) for _ in range(500)]
        held.extend(idle)
        with _connect(daemon.socket) as sock:  # a newcomer is still answered
            sock.sendall(_request("status", 5))
            assert _answers(sock)[0]["ok"] is True
        evicted = 0
        for sock in idle[:100]:  # the oldest: each told why, then closed
            [answer] = _answers(sock)
            assert answer["error"]["code"] == "evicted"
            evicted += 1
        assert evicted == 100

        daemon.wait_for(
            "control_client_not_reading",
            timeout=max(1.0, 15.0 - (time.monotonic() - stalled_at)),
        )
        time.sleep(1.0)
    finally:
        prober.stop()
        for sock in held:
            sock.close()

    # Every status asked meanwhile was answered, and promptly.
    assert len(prober.rounds) >= 40
    assert all(ok for _, ok in prober.rounds), prober.rounds
    slowest = max(seconds for seconds, _ in prober.rounds)
    assert slowest < PROMPT_SECONDS, f"slowest status {slowest:.2f} s"
    evictions = len(daemon.events("control_evicted"))
    assert evictions >= 500 - MAX_CLIENTS
    print(
        f"status probes {len(prober.rounds)}, all answered, slowest {slowest * 1000:.0f} ms, "
        f"median {sorted(s for s, _ in prober.rounds)[len(prober.rounds) // 2] * 1000:.1f} ms; "
        f"idle connections evicted {evictions}"
    )

    time.sleep(0.5)  # the closed connections end on the server side
    status = daemon.ftd("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["connections"] <= 2
    assert not [e for e in daemon.events() if "exception" in e]
    assert daemon.stop() == 0
