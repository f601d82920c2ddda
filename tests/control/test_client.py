"""The client's failures: one clear line each, and the exit status a script can act on."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftd.control.client import (
    EXIT_NOPERM,
    EXIT_UNAVAILABLE,
    Client,
    ClientError,
    CommandFailed,
    NotRunning,
    PermissionDenied,
)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ftd-") as name:
        yield Path(name)


def test_no_socket_says_how_to_start_the_daemon(short_dir: Path) -> None:
    with pytest.raises(NotRunning, match="does not exist; start it with `ftd run`") as caught:
        Client(short_dir / "ftd.sock")
    assert caught.value.exit_status == EXIT_UNAVAILABLE


def test_a_socket_nobody_listens_on_is_told_apart(short_dir: Path) -> None:
    path = short_dir / "ftd.sock"
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(path))
    left.close()
    with pytest.raises(NotRunning, match="left by one that stopped"):
        Client(path)


def _one_answer_server(path: Path, answer: bytes) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    return listener


def test_refusals_become_typed_errors(short_dir: Path) -> None:
    path = short_dir / "ftd.sock"
    listener = _one_answer_server(path, b"")
    with Client(path, timeout=5) as client:
        conn, _ = listener.accept()
        conn.sendall(
            b'{"v":1,"id":1,"ok":false,"error":{"code":"not_found","message":"no job x"}}\n'
        )
        with pytest.raises(CommandFailed, match="no job x") as caught:
            client.call("show", {"id": "x"})
        assert caught.value.code == "not_found"
        conn.sendall(b'{"v":1,"id":null,"ok":false,"error":{"code":"forbidden","message":"no"}}\n')
        with pytest.raises(PermissionDenied, match="permission denied") as denied:
            client.call("status")
        assert denied.value.exit_status == EXIT_NOPERM
        conn.sendall(b"garbage\n")
        with pytest.raises(ClientError, match="not JSON"):
            client.call("status")
        conn.close()
        with pytest.raises(ClientError, match="closed"):
            client.call("status")
    listener.close()


def test_a_silent_daemon_times_out(short_dir: Path) -> None:
    path = short_dir / "ftd.sock"
    listener = _one_answer_server(path, b"")
    with (
        Client(path, timeout=0.3) as client,
        pytest.raises(ClientError, match=r"did not answer within 0\.3 s"),
    ):
        client.call("status")
    listener.close()


def test_a_refusal_sent_before_the_request_is_still_read(short_dir: Path) -> None:
    # A daemon that refuses answers at once and closes; the request then meets
    # a closed socket, yet the refusal waiting to be read is what counts.
    path = short_dir / "ftd.sock"
    listener = _one_answer_server(path, b"")
    with Client(path, timeout=5) as client:
        conn, _ = listener.accept()
        conn.sendall(
            b'{"v":1,"id":null,"ok":false,"error":{"code":"forbidden",'
            b'"message":"uid 65534 (nobody), pid 1 may not use this socket"}}\n'
        )
        conn.close()
        with pytest.raises(PermissionDenied, match="may not use this socket") as denied:
            client.call("status")
        assert denied.value.exit_status == EXIT_NOPERM
    listener.close()


def test_a_root_owned_socket_does_not_advise_joining_root(short_dir: Path) -> None:
    path = short_dir / "ftd.sock"
    listener = _one_answer_server(path, b"")
    os.chown(path, -1, 0)
    with Client(path, timeout=5) as client:
        conn, _ = listener.accept()
        conn.sendall(b'{"v":1,"id":null,"ok":false,"error":{"code":"forbidden","message":"no"}}\n')
        with pytest.raises(PermissionDenied) as denied:
            client.call("status")
        conn.close()
    listener.close()
    assert "usermod -aG root" not in str(denied.value)
    assert "control.group" in str(denied.value)
