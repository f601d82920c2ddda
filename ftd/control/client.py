"""A blocking client of the control socket: standard library only, so ``ftd status`` starts fast.

Failures become ``ClientError`` subclasses whose message tells a person what
to do and whose ``exit_status`` the command returns: the daemon is not running
(69, EX_UNAVAILABLE), the socket refuses this user (77, EX_NOPERM), or the
daemon answered with an error (1).
"""

from __future__ import annotations

import grp
import itertools
import json
import os
import socket
from typing import TYPE_CHECKING, Any

from ftd.control import protocol

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import TracebackType

EXIT_FAILED = 1
EXIT_UNAVAILABLE = 69
EXIT_NOPERM = 77
MAX_ANSWER_BYTES = 256 * 1024 * 1024
PARTING_WAIT = 1.0  # seconds to look for a refusal once the request could not be sent
START_HINT = "start it with `ftd run` (or `systemctl start ftd` for the service)"


class ClientError(Exception):
    exit_status = EXIT_FAILED

    def __init__(self, message: str, code: str = "client_error") -> None:
        super().__init__(message)
        self.code = code


class NotRunning(ClientError):
    exit_status = EXIT_UNAVAILABLE


class PermissionDenied(ClientError):
    exit_status = EXIT_NOPERM


class CommandFailed(ClientError):
    """The daemon answered ``ok: false``; ``code`` is the protocol's error code."""


def _group_of(path: Path) -> str | None:
    try:
        gid = os.stat(path).st_gid
    except OSError:
        return None
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _denied(path: Path, detail: str) -> PermissionDenied:
    group = _group_of(path)
    if group is None:
        how = "ask the administrator for access to it"
    elif group in ("root", "0"):
        # Joining root's group would hand out far more than this socket.
        how = (
            "the socket belongs to group 'root': ask the administrator to set "
            "`control.group` in the daemon's configuration to a group made for its users "
            "and to add you to it, or run the command as root"
        )
    else:
        how = (
            f"members of group {group!r} may use it: `sudo usermod -aG {group} $USER`, "
            "then log in again"
        )
    return PermissionDenied(f"permission denied on {path}: {detail}; {how}", protocol.FORBIDDEN)


class Client:
    """One connection; requests are sent one after the other."""

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(path))
        except FileNotFoundError:
            self._sock.close()
            raise NotRunning(f"no ftd daemon: {path} does not exist; {START_HINT}") from None
        except ConnectionRefusedError:
            self._sock.close()
            raise NotRunning(
                f"no ftd daemon listens on {path} (left by one that stopped); {START_HINT}"
            ) from None
        except PermissionError:
            self._sock.close()
            raise _denied(path, "this user may not open the socket") from None
        except OSError as exc:
            self._sock.close()
            raise NotRunning(f"cannot reach the ftd daemon at {path}: {exc}") from None
        self._reader = self._sock.makefile("rb")

    def close(self) -> None:
        self._reader.close()
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, cmd: str, args: dict[str, Any] | None) -> int:
        request_id = next(self._ids)
        try:
            self._sock.sendall(protocol.request_line(request_id, cmd, args))
        except OSError as exc:
            self._read_parting_answer()
            raise ClientError(f"the daemon closed the connection: {exc}") from None
        return request_id

    def _read_parting_answer(self) -> None:
        """Raise the refusal the daemon may have sent before closing, if one is waiting.

        A daemon that refuses a connection answers at once and closes; a
        request written after that fails with "Broken pipe", yet the refusal
        is already here to read and says far more.
        """
        try:
            self._answer(None, wait=PARTING_WAIT)
        except (PermissionDenied, CommandFailed):
            raise
        except ClientError:
            return

    def _answer(self, request_id: int | None, *, wait: float | None) -> dict[str, Any]:
        self._sock.settimeout(wait)
        try:
            line = self._reader.readline(MAX_ANSWER_BYTES)
        except TimeoutError:
            raise ClientError(
                f"the daemon did not answer within {self._timeout:g} s", "timeout"
            ) from None
        except OSError as exc:
            raise ClientError(f"the connection to the daemon broke: {exc}") from None
        if not line:
            raise ClientError("the daemon closed the connection without an answer", "closed")
        try:
            answer = json.loads(line)
        except ValueError:
            raise ClientError(f"the daemon answered something not JSON: {line[:80]!r}") from None
        if not isinstance(answer, dict):
            raise ClientError("the daemon answered something other than an object")
        if not answer.get("ok"):
            err = answer.get("error") or {}
            code = str(err.get("code", "error"))
            message = str(err.get("message", "the daemon refused the request"))
            if code == protocol.FORBIDDEN:
                raise _denied(self.path, message)
            raise CommandFailed(message, code)
        if answer.get("id") not in (request_id, None):
            raise ClientError(f"answer for request {answer.get('id')!r}, not {request_id}")
        return answer

    def call(self, cmd: str, args: dict[str, Any] | None = None) -> Any:
        """Send one request and return its result; CommandFailed when the daemon refuses."""
        request_id = self._send(cmd, args)
        return self._answer(request_id, wait=self._timeout)["result"]

    def stream(self, cmd: str, args: dict[str, Any] | None = None) -> Iterator[Any]:
        """Results of a streaming command as they come; it may last as long as the daemon sends."""
        request_id = self._send(cmd, args)
        while True:
            answer = self._answer(request_id, wait=None)
            if not answer.get("more"):
                return
            yield answer["result"]
