"""The control socket's server: connections, limits, access checks, and dispatch to commands.

Each connection is a task that reads one request line at a time (bounded in
size), answers it, and waits for the next (bounded in time). A bad request
gets an error answer and the connection goes on; a line too long closes it.
When all ``max_clients`` places are taken, the connection idle the longest
makes room, so idle or abandoned connections can never lock people out. An
answer that the client does not read within ``WRITE_TIMEOUT`` seconds closes
the connection: a client that stops reading cannot hold the daemon.

While the daemon starts, the server answers from a small set of commands
(``status`` saying which step the start is at); any other command waits for
the full set (``serve_all``) up to ``START_WAIT_SECONDS``, then is refused as
``unavailable`` naming that step. Access is checked against the command that
finally answers, whichever set it came from.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import SocketAttribute, SocketListener
from anyio.streams.buffered import BufferedByteReceiveStream

from ftd.control import protocol
from ftd.control.access import Access, Peer, peer_of
from ftd.daemon.lock import hold_lock
from ftd.errors import ConfigError, FtdError
from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from pathlib import Path

    from anyio.abc import SocketStream, TaskStatus

log = get_logger("ftd.control")
WRITE_TIMEOUT = 10.0
REFUSED_LINGER = 2.0  # seconds a refused client has to send its request and read the refusal
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the final NUL
# Under the client's own 30-second patience, so a command asked too early hears why.
START_WAIT_SECONDS = 20.0


class CommandError(FtdError):
    """A command's refusal, sent to the client as ``{"code", "message"}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Call:
    args: dict[str, Any]
    peer: Peer


@dataclass(frozen=True, slots=True)
class Command:
    """``run`` returns the result; a streaming command's ``run`` yields results."""

    run: Callable[[Call], Awaitable[Any]] | Callable[[Call], AsyncIterator[Any]]
    changes: bool = False
    streams: bool = False


@dataclass(eq=False)
class _Connection:
    peer: Peer
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    idle_since: float = field(default_factory=time.monotonic)
    busy: bool = False
    evicted: bool = False


@contextlib.contextmanager
def bound_socket(path: Path, gid: int | None) -> Iterator[socket.socket]:
    """The listening socket at ``path``, with the lock that makes it ours; removed at the end.

    A second daemon on the same socket finds the lock taken and stops there,
    instead of silently replacing a live daemon's socket. Holding the lock, a
    socket file found at the path can only be a crashed daemon's, and is replaced.
    """
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ConfigError(
            "control.socket",
            f"{path} is {len(os.fsencode(path))} bytes; a socket path holds at most "
            f"{MAX_SOCKET_PATH}",
        )
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, mode=0o750)
    with hold_lock(path.with_name(path.name + ".lock")):
        try:
            found = path.lstat()
        except FileNotFoundError:
            found = None
        if found is not None:
            if not stat.S_ISSOCK(found.st_mode):
                raise ConfigError(
                    "control.socket", f"{path} exists and is not a socket; ftd leaves it alone"
                )
            path.unlink()
            log.info("control_socket_stale", path=str(path))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # No moment with a wider mode than 0660: the umask applies at bind().
            old = os.umask(0o117)
            try:
                sock.bind(str(path))
            finally:
                os.umask(old)
            if gid is not None and gid != os.getegid():
                os.chown(path, -1, gid)
            os.chmod(path, 0o660)
            sock.listen(128)
            made = path.lstat().st_ino
            yield sock
        finally:
            sock.close()
            with contextlib.suppress(OSError):
                if path.lstat().st_ino == made:
                    path.unlink()


class ControlServer:
    def __init__(
        self,
        commands: dict[str, Command],
        access: Access,
        *,
        max_clients: int,
        idle_seconds: float,
        max_request_bytes: int,
        starting: Callable[[], str] | None = None,
    ) -> None:
        """``starting``: the step a daemon's start is at, until ``serve_all`` ends it."""
        self._commands = commands
        self._starting = starting
        self._all_served = anyio.Event() if starting is not None else None
        self._access = access
        self._max_clients = max_clients
        self._idle = idle_seconds
        self._max_request = max_request_bytes
        self._open: list[_Connection] = []
        self.served = 0
        self.refusing = 0  # refused connections still open for their client to read the refusal
        self.waiting = 0  # requests waiting for the start to finish (``serve_all``)

    @property
    def connections(self) -> int:
        return len(self._open)

    def serve_all(self, commands: dict[str, Command]) -> None:
        """Answer with ``commands`` from now on: the start is done; the waiting go on."""
        self._commands = commands
        self._starting = None
        if self._all_served is not None:
            self._all_served.set()

    async def _command(self, name: str) -> Command | None:
        """``name``'s command; while starting, one not served yet waits for the full set."""
        command = self._commands.get(name)
        if command is not None or self._all_served is None:
            return command
        self.waiting += 1
        try:
            with anyio.move_on_after(START_WAIT_SECONDS):
                await self._all_served.wait()
        finally:
            self.waiting -= 1
        if self._starting is not None:
            raise CommandError(
                protocol.UNAVAILABLE,
                f"ftd is still starting ({self._starting()}) after {START_WAIT_SECONDS:g} s; "
                "`ftd status` shows how far it is; ask again shortly",
            )
        return self._commands.get(name)

    async def serve(
        self,
        sock: socket.socket,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        sock.setblocking(False)
        listener = await SocketListener.from_socket(sock)
        async with listener, anyio.create_task_group() as tg:
            task_status.started()
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    # Out of descriptors, for instance: wait a little, keep serving.
                    log.warning("control_accept_failed", error=str(exc))
                    await anyio.sleep(0.1)
                    continue
                tg.start_soon(self._connection, stream)

    async def _connection(self, stream: SocketStream) -> None:
        async with stream:
            try:
                peer = peer_of(stream.extra(SocketAttribute.raw_socket))  # noqa: S610
            except OSError:
                return
            if not self._access.may_connect(peer):
                log.warning("control_refused", uid=peer.uid, pid=peer.pid, user=peer.user)
                await self._send(
                    stream,
                    protocol.error(
                        None,
                        protocol.FORBIDDEN,
                        f"{peer.describe()} may not use this socket; it admits "
                        f"{self._access.who_may_connect()}",
                    ),
                )
                self.refusing += 1
                try:
                    await self._let_refusal_be_read(stream)
                finally:
                    self.refusing -= 1
                return
            connection = _Connection(peer)
            self._make_room()
            self._open.append(connection)
            try:
                with connection.scope:
                    await self._requests(stream, connection)
                if connection.evicted:
                    await self._send(
                        stream,
                        protocol.error(
                            None,
                            protocol.EVICTED,
                            "closed to make room for a new connection after "
                            f"{time.monotonic() - connection.idle_since:.0f} s idle",
                        ),
                        patience=1.0,
                    )
            finally:
                self._open.remove(connection)

    async def _let_refusal_be_read(self, stream: SocketStream) -> None:
        """Half-close, then take what the refused client still sends, briefly and boundedly.

        Closing at once would break the client's pending request with "Broken
        pipe" before it reads its refusal; holding the read side open until the
        client leaves (or ``REFUSED_LINGER`` passes) lets its write succeed.
        """
        with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await stream.send_eof()
        taken = 0
        with anyio.move_on_after(REFUSED_LINGER):
            while taken < self._max_request:
                try:
                    taken += len(await stream.receive(self._max_request))
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return
                except OSError:
                    return

    def _make_room(self) -> None:
        if len(self._open) < self._max_clients:
            return
        idle = [c for c in self._open if not c.busy and not c.evicted]
        if not idle:
            return  # every place is working: the newcomer waits its turn in line
        oldest = min(idle, key=lambda c: c.idle_since)
        oldest.evicted = True
        oldest.scope.cancel()
        log.info("control_evicted", uid=oldest.peer.uid, pid=oldest.peer.pid)

    async def _requests(self, stream: SocketStream, connection: _Connection) -> None:
        reader = BufferedByteReceiveStream(stream)
        while True:
            connection.busy = False
            connection.idle_since = time.monotonic()
            try:
                with anyio.fail_after(self._idle):
                    line = await reader.receive_until(b"\n", self._max_request)
            except TimeoutError:
                await self._send(
                    stream,
                    protocol.error(
                        None,
                        protocol.IDLE_TIMEOUT,
                        f"no complete request for {self._idle:g} s; closing",
                    ),
                    patience=1.0,
                )
                return
            except anyio.DelimiterNotFound:
                await self._send(
                    stream,
                    protocol.error(
                        None,
                        protocol.TOO_LARGE,
                        f"request over {self._max_request} bytes without a newline; closing",
                    ),
                )
                log.warning("control_request_too_large", uid=connection.peer.uid)
                return
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                return
            if len(line) > self._max_request:
                # The newline arrived in the same read as the rest: the reader found it
                # past the bound, so the bound is checked here, whatever the timing.
                await self._send(
                    stream,
                    protocol.error(
                        None, protocol.TOO_LARGE, f"request over {self._max_request} bytes; closing"
                    ),
                )
                log.warning("control_request_too_large", uid=connection.peer.uid)
                return
            connection.busy = True
            if not line.strip():
                continue
            if not await self._answer(stream, connection.peer, line):
                return

    async def _answer(self, stream: SocketStream, peer: Peer, line: bytes) -> bool:
        """Answer one request line; False when the connection should close."""
        started = time.perf_counter()
        try:
            request = protocol.decode_request(line)
        except protocol.ProtocolError as exc:
            return await self._send(stream, protocol.error(exc.request_id, exc.code, exc.message))
        try:
            command = await self._command(request.cmd)
        except CommandError as exc:
            return await self._send(stream, protocol.error(request.id, exc.code, exc.message))
        if command is None:
            known = ", ".join(sorted(self._commands))
            return await self._send(
                stream,
                protocol.error(
                    request.id,
                    protocol.UNKNOWN_COMMAND,
                    f"no command {request.cmd!r}; known: {known}",
                ),
            )
        if command.changes and not self._access.may_change(peer):
            log.warning(
                "control_refused", uid=peer.uid, pid=peer.pid, user=peer.user, cmd=request.cmd
            )
            return await self._send(
                stream,
                protocol.error(
                    request.id,
                    protocol.FORBIDDEN,
                    f"{peer.describe()} may not {request.cmd}: changes are for "
                    f"{self._access.who_may_change()}",
                ),
            )
        call = Call(request.args, peer)
        if command.changes:
            log.info("control_command", cmd=request.cmd, uid=peer.uid, pid=peer.pid, args=call.args)
        try:
            if command.streams:
                return await self._stream(stream, request.id, command, call)
            value = await command.run(call)  # type: ignore[misc]
            answer = protocol.result(request.id, value)
        except CommandError as exc:
            answer = protocol.error(request.id, exc.code, exc.message)
        except Exception as exc:
            log.exception("control_command_failed", cmd=request.cmd)
            answer = protocol.error(
                request.id, protocol.INTERNAL, f"{request.cmd} failed: {type(exc).__name__}: {exc}"
            )
        self.served += 1
        log.debug(
            "control_request",
            cmd=request.cmd,
            uid=peer.uid,
            ms=round((time.perf_counter() - started) * 1000, 3),
        )
        return await self._send(stream, answer)

    async def _stream(
        self, stream: SocketStream, request_id: protocol.RequestId, command: Command, call: Call
    ) -> bool:
        results: AsyncIterator[Any] = command.run(call)  # type: ignore[assignment]
        try:
            async for value in results:
                if not await self._send(stream, protocol.result(request_id, value, more=True)):
                    return False
        except CommandError as exc:
            return await self._send(stream, protocol.error(request_id, exc.code, exc.message))
        finally:
            aclose = getattr(results, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
        return await self._send(stream, protocol.result(request_id, None))

    async def _send(
        self, stream: SocketStream, message: dict[str, Any], *, patience: float = WRITE_TIMEOUT
    ) -> bool:
        try:
            with anyio.fail_after(patience):
                await stream.send(protocol.encode(message))
        except TimeoutError:
            log.warning("control_client_not_reading", seconds=patience)
            return False
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return False
        return True
