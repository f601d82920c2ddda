"""The control socket's protocol: newline-delimited JSON, one request, one or more answers.

Standard library only: the ``ftd`` client imports this module, and it must start fast.

Each request is one line, one JSON object, UTF-8::

    {"v": 1, "id": 7, "cmd": "status", "args": {}}

``v`` is the protocol version (the server refuses others with
``unsupported_version``), ``id`` an integer or string chosen by the client and
echoed in every answer, ``cmd`` the command, ``args`` an object (optional).
Each answer is one line::

    {"v": 1, "id": 7, "ok": true, "result": {...}}
    {"v": 1, "id": 7, "ok": false, "error": {"code": "not_found", "message": "..."}}

Streaming commands (``events`` with ``follow``, ``watch``) answer with a line
per result, each carrying ``"more": true``, and end (when they end) with a line
whose ``result`` is null and that has no ``more``; an error ends one too.
The client ends a stream early by closing the connection. A connection may
carry any number of requests, one after the other.

Limits: a request line over the configured size (64 KiB by default) is
answered with ``too_large`` and the connection is closed, since the rest of
that line cannot be told apart from a next request; a connection that sends no
complete request for ``idle_seconds`` is closed with ``idle_timeout``; when the
server is full, the connection idle the longest is closed with ``evicted``.
Errors found before a request could be read (a refused peer, a full server)
carry ``"id": null``.

Error codes are stable; messages are for people.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

VERSION = 1

# Error codes.
BAD_REQUEST = "bad_request"  # not JSON, not an object, or a field of the wrong kind
TOO_LARGE = "too_large"
UNSUPPORTED_VERSION = "unsupported_version"
UNKNOWN_COMMAND = "unknown_command"
INVALID_ARGUMENT = "invalid_argument"
NOT_FOUND = "not_found"
CONFLICT = "conflict"  # the thing exists but is not in a state that allows this
FORBIDDEN = "forbidden"
PROVIDER_ERROR = "provider_error"
UNAVAILABLE = "unavailable"  # the daemon cannot do this now (e.g. a part is not running)
IDLE_TIMEOUT = "idle_timeout"
EVICTED = "evicted"
INTERNAL = "internal"

RequestId = int | str | None


class ProtocolError(Exception):
    """A request the server cannot take; ``code`` is one of the codes above."""

    def __init__(self, code: str, message: str, request_id: RequestId = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


class Request(NamedTuple):
    id: RequestId
    cmd: str
    args: dict[str, Any]


def encode(message: dict[str, Any]) -> bytes:
    """One line: compact JSON, non-ASCII kept as UTF-8, a newline at the end."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def request_line(request_id: RequestId, cmd: str, args: dict[str, Any] | None = None) -> bytes:
    return encode({"v": VERSION, "id": request_id, "cmd": cmd, "args": args or {}})


def decode_request(line: bytes) -> Request:
    """Parse one request line (without its newline); ProtocolError says what is wrong."""
    try:
        data = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProtocolError(BAD_REQUEST, f"not UTF-8 at byte {exc.start}") from None
    except ValueError as exc:
        raise ProtocolError(BAD_REQUEST, f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(BAD_REQUEST, f"a request is a JSON object, not {_kind(data)}")
    request_id = data.get("id")
    if request_id is not None and (
        isinstance(request_id, bool) or not isinstance(request_id, int | str)
    ):
        raise ProtocolError(
            BAD_REQUEST, f"id must be an integer or a string, not {_kind(request_id)}"
        )
    version = data.get("v", VERSION)
    if version != VERSION:
        raise ProtocolError(
            UNSUPPORTED_VERSION,
            f"protocol version {version!r} is not spoken here; this daemon speaks {VERSION}",
            request_id,
        )
    cmd = data.get("cmd")
    if not isinstance(cmd, str) or not cmd:
        raise ProtocolError(BAD_REQUEST, "cmd must be a non-empty string", request_id)
    args = data.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ProtocolError(BAD_REQUEST, f"args must be an object, not {_kind(args)}", request_id)
    unknown = data.keys() - {"v", "id", "cmd", "args"}
    if unknown:
        raise ProtocolError(
            BAD_REQUEST, f"unknown request fields: {', '.join(sorted(unknown))}", request_id
        )
    return Request(request_id, cmd, args)


def result(request_id: RequestId, value: Any, *, more: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"v": VERSION, "id": request_id, "ok": True, "result": value}
    if more:
        answer["more"] = True
    return answer


def error(request_id: RequestId, code: str, message: str) -> dict[str, Any]:
    return {
        "v": VERSION,
        "id": request_id,
        "ok": False,
        "error": {"code": code, "message": message},
    }


def _kind(value: object) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
