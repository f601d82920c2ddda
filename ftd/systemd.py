"""What a daemon says to systemd and takes from it: notifications, inherited sockets, journald.

The notify protocol is one datagram per message to ``$NOTIFY_SOCKET`` (a path,
or an abstract name written with a leading ``@``), holding ``KEY=value`` lines.
It is small enough to speak directly, which spares a dependency that would need
libsystemd headers to build. Outside systemd every call is a no-op, so the
daemon runs the same way in a terminal, a container or a test.

Standard library only at import time: the thin ``ftd`` client may import this
module without paying for structlog or anyio.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, TextIO

from ftd.errors import FtdError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import TaskStatus

# How often the status line is re-read when no watchdog asks for more often.
STATUS_SECONDS = 5.0
LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START: inherited sockets begin after stdio
_KEY = re.compile(r"[A-Z][A-Z0-9_]*")


class SystemdError(FtdError):
    """systemd's variables or a notification do not follow the protocol."""


class Notifier:
    """Sends sd_notify messages; without a ``$NOTIFY_SOCKET`` it sends nothing.

    The socket is non-blocking: a receiver that stops reading makes a send fail
    (logged), never stalls the event loop that sends it.
    """

    def __init__(self, address: str | None, *, watchdog_interval: float | None = None) -> None:
        self.address = address
        self.watchdog_interval = watchdog_interval
        self._target = _target(address) if address else None
        self._sock: socket.socket | None = None
        self._failing = False
        self.sent = 0
        self.failed = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Notifier:
        """The notifier systemd's variables describe; they are removed from a mutable ``env``.

        Removing them keeps child processes (the validation worker) from
        inheriting a socket only the main process may write to.
        """
        address = env.get("NOTIFY_SOCKET") or None
        interval = watchdog_interval(env)
        if isinstance(env, MutableMapping):
            for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                env.pop(name, None)
        return cls(address, watchdog_interval=interval)

    @property
    def enabled(self) -> bool:
        return self._target is not None

    def send(self, **fields: str | int) -> bool:
        """One datagram of ``KEY=value`` lines; True when it was sent (False when disabled).

        Values may not span lines (the protocol is line based): newlines become spaces.
        """
        if self._target is None:
            return False
        for key in fields:
            if not _KEY.fullmatch(key):
                raise SystemdError(f"sd_notify field {key!r}: names are A-Z, 0-9 and _")
        payload = "".join(
            f"{key}={str(value).replace(chr(10), ' ')}\n" for key, value in fields.items()
        )
        try:
            if self._sock is None:
                self._sock = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
                )
            self._sock.sendto(payload.encode(), self._target)
        except OSError as exc:
            self.failed += 1
            if not self._failing:
                # Once per run of failures: a missing receiver must not flood the log.
                self._failing = True
                _log_failure(self.address or "", payload, exc)
            return False
        self._failing = False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        if status is None:
            return self.send(READY=1)
        return self.send(READY=1, STATUS=status)

    def status(self, text: str) -> bool:
        return self.send(STATUS=text)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(STOPPING=1, STATUS=status)

    def reloading(self) -> bool:
        # systemd matches the reload to this timestamp (sd_notify(3), Type=notify-reload).
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send(RELOADING=1, MONOTONIC_USEC=now_usec)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _target(address: str) -> str | bytes:
    if address.startswith("@"):
        return b"\0" + address[1:].encode()
    return address


def _log_failure(address: str, payload: str, exc: OSError) -> None:
    from ftd.logs import get_logger  # structlog only when there is something to say

    first = payload.split("\n", 1)[0]
    get_logger("ftd.systemd").warning(
        "systemd_notify_failed", socket=address, message=first, error=str(exc)
    )


def watchdog_interval(env: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between pings: half of ``$WATCHDOG_USEC``, as sd_watchdog_enabled(3) advises.

    None when there is no watchdog, or when ``$WATCHDOG_PID`` names another process.
    """
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2_000_000


async def keep_alive(
    notifier: Notifier,
    status_text: Callable[[], Awaitable[str]],
    *,
    status_seconds: float = STATUS_SECONDS,
    task_status: TaskStatus[None] | None = None,
) -> None:
    """Ping the watchdog and keep ``systemctl status`` current, from the daemon's own loop.

    A task, not a thread, on purpose: when the event loop is blocked the pings
    stop, and systemd kills and restarts the daemon. The status line is re-read
    every ``status_seconds`` (or each watchdog interval, if shorter) and sent
    when it changed.
    """
    import anyio

    if task_status is not None:
        task_status.started()
    if not notifier.enabled:
        return
    interval = notifier.watchdog_interval
    every = min(status_seconds, interval) if interval else status_seconds
    async with anyio.create_task_group() as tg:
        if interval:
            tg.start_soon(_ping, notifier, interval)
        tg.start_soon(_report, notifier, status_text, every)


async def _ping(notifier: Notifier, interval: float) -> None:
    import anyio

    while True:
        notifier.watchdog()
        await anyio.sleep(interval)


async def _report(
    notifier: Notifier, status_text: Callable[[], Awaitable[str]], every: float
) -> None:
    import anyio

    from ftd.logs import get_logger

    last: str | None = None
    while True:
        try:
            text = await status_text()
        except Exception as exc:  # a status line is never worth stopping the daemon for
            get_logger("ftd.systemd").warning("systemd_status_failed", error=str(exc))
        else:
            if text != last and notifier.status(text):
                last = text
        await anyio.sleep(every)


def listen_fds(env: MutableMapping[str, str] = os.environ) -> list[socket.socket]:
    """The sockets systemd passed (socket activation), in order; [] when there are none."""
    return [sock for _name, sock in named_listen_fds(env)]


def named_listen_fds(env: MutableMapping[str, str] = os.environ) -> list[tuple[str, socket.socket]]:
    """The passed sockets with their ``FileDescriptorName=`` ("unknown" when unnamed).

    The variables are removed whatever they hold, so no child process takes the
    sockets for its own. They count only when ``$LISTEN_PID`` is this process.
    """
    pid = env.pop("LISTEN_PID", "")
    count = env.pop("LISTEN_FDS", "")
    names = env.pop("LISTEN_FDNAMES", "")
    if pid != str(os.getpid()) or not count:
        return []
    if not count.isdigit():
        raise SystemdError(f"$LISTEN_FDS is {count!r}; systemd passes a number of sockets")
    found: list[tuple[str, socket.socket]] = []
    labels = names.split(":") if names else []
    for index in range(int(count)):
        fd = LISTEN_FDS_START + index
        os.set_inheritable(fd, False)  # passed inheritable; children must not keep them
        label = labels[index] if index < len(labels) and labels[index] else "unknown"
        found.append((label, socket.socket(fileno=fd)))
    return found


def journal_stream_matches(stream: TextIO, env: Mapping[str, str] = os.environ) -> bool:
    """True when ``stream`` is the journald connection that ``$JOURNAL_STREAM`` names.

    systemd sets ``$JOURNAL_STREAM`` to ``device:inode`` of the stream it hands
    the service; comparing with the stream's own fstat (as systemd's journal
    documentation advises) tells a redirected stream or a child's pipe apart.
    """
    expected = env.get("JOURNAL_STREAM", "")
    device, _, inode = expected.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    with contextlib.suppress(OSError, ValueError, AttributeError):
        found = os.fstat(stream.fileno())
        return (found.st_dev, found.st_ino) == (int(device), int(inode))
    return False
