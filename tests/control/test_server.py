"""The control server in process: limits, bad input, many and slow clients, streams, sockets."""

from __future__ import annotations

import json
import os
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from ftd.control import protocol, server
from ftd.control.access import Access
from ftd.control.access import Peer as AccessPeer
from ftd.control.server import Call, Command, CommandError, ControlServer, bound_socket
from ftd.daemon.lock import LockHeldError
from ftd.errors import ConfigError

pytestmark = pytest.mark.anyio


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Socket paths hold at most 107 bytes; pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="ftd-") as name:
        yield Path(name)


async def _echo(call: Call) -> dict[str, Any]:
    delay = float(call.args.get("delay", 0))
    if delay:
        await anyio.sleep(delay)
    return {"echo": call.args, "uid": call.peer.uid}


async def _refuse(call: Call) -> None:
    raise CommandError(protocol.NOT_FOUND, "no such thing")


async def _crash(call: Call) -> None:
    raise RuntimeError("broken handler")


async def _count(call: Call) -> AsyncIterator[int]:
    for number in range(int(call.args.get("n", 3))):
        yield number
        await anyio.lowlevel.checkpoint()


async def _flood(call: Call) -> AsyncIterator[str]:
    while True:
        yield "x" * 65536
        await anyio.lowlevel.checkpoint()


COMMANDS = {
    "echo": Command(_echo),
    "refuse": Command(_refuse),
    "crash": Command(_crash),
    "count": Command(_count, streams=True),
    "flood": Command(_flood, streams=True),
}


@asynccontextmanager
async def serving(
    directory: Path, access: Access | None = None, **limits: Any
) -> AsyncIterator[tuple[Path, ControlServer]]:
    path = directory / "ftd.sock"
    options = {"max_clients": 128, "idle_seconds": 30.0, "max_request_bytes": 4096, **limits}
    rules = Access(group=None, admin_group=None) if access is None else access
    control = ControlServer(COMMANDS, rules, **options)
    with bound_socket(path, None) as sock:
        async with anyio.create_task_group() as tg:
            await tg.start(control.serve, sock)
            yield path, control
            # Let the connections see their clients leave before the server stops:
            # cancelling a read that is just being woken upsets asyncio's bookkeeping.
            await _until_closed(control, 5)
            tg.cancel_scope.cancel()


async def _until_closed(control: ControlServer, seconds: float) -> None:
    for _ in range(int(seconds / 0.01)):
        if not control.connections and not control.refusing:
            return
        await anyio.sleep(0.01)


class Peer:
    """A raw client: lines out, answers in."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)

    async def send(self, raw: bytes) -> None:
        await self.stream.send(raw)

    async def ask(self, request_id: object, cmd: str, args: dict[str, Any] | None = None) -> Any:
        await self.send(protocol.encode({"v": 1, "id": request_id, "cmd": cmd, "args": args or {}}))
        return await self.answer()

    async def answer(self) -> Any:
        with anyio.fail_after(10):
            return json.loads(await self.reader.receive_until(b"\n", 1 << 24))

    async def closed(self) -> bool:
        with anyio.fail_after(10):
            try:
                await self.reader.receive_until(b"\n", 1 << 24)
            except (anyio.IncompleteRead, anyio.EndOfStream):
                return True
        return False


@asynccontextmanager
async def client(path: Path) -> AsyncIterator[Peer]:
    stream = await anyio.connect_unix(path)
    async with stream:
        yield Peer(stream)


async def test_bad_requests_get_errors_and_the_connection_goes_on(short_dir: Path) -> None:
    async with serving(short_dir) as (path, _), client(path) as peer:
        await peer.send(b"this is not json\n")
        answer = await peer.answer()
        assert answer["ok"] is False
        assert answer["error"]["code"] == protocol.BAD_REQUEST
        assert (await peer.ask(1, "nope"))["error"]["code"] == protocol.UNKNOWN_COMMAND
        await peer.send(b'{"v": 5, "id": 2, "cmd": "echo"}\n')
        old = await peer.answer()
        assert (old["id"], old["error"]["code"]) == (2, protocol.UNSUPPORTED_VERSION)
        await peer.send(b"\n")  # blank lines are skipped
        ok = await peer.ask(3, "echo", {"a": 1})
        assert ok == {
            "v": 1,
            "id": 3,
            "ok": True,
            "result": {"echo": {"a": 1}, "uid": os.geteuid()},
        }


async def test_an_oversized_request_is_refused_and_its_connection_closed(short_dir: Path) -> None:
    async with serving(short_dir, max_request_bytes=1024) as (path, _):
        async with client(path) as peer:
            await peer.send(b'{"cmd": "echo", "args": {"x": "' + b"y" * 5000)
            answer = await peer.answer()
            assert answer["error"]["code"] == protocol.TOO_LARGE
            assert await peer.closed()
        async with client(path) as other:
            assert (await other.ask(1, "echo"))["ok"] is True


async def test_an_oversized_line_sent_whole_with_its_newline_is_refused(short_dir: Path) -> None:
    """The newline in the same read as the rest must not carry a line past the bound."""
    async with serving(short_dir, max_request_bytes=1024) as (path, _), client(path) as peer:
        line = b'{"v": 1, "id": 1, "cmd": "echo", "args": {"x": "' + b"y" * 1500 + b'"}}\n'
        await peer.send(line)
        answer = await peer.answer()
        assert answer["error"]["code"] == protocol.TOO_LARGE
        assert await peer.closed()


async def test_command_refusals_and_crashes_are_answers(short_dir: Path) -> None:
    async with serving(short_dir) as (path, _), client(path) as peer:
        refused = await peer.ask(1, "refuse")
        assert refused["error"] == {"code": "not_found", "message": "no such thing"}
        crashed = await peer.ask(2, "crash")
        assert crashed["error"]["code"] == protocol.INTERNAL
        assert "broken handler" in crashed["error"]["message"]
        assert (await peer.ask(3, "echo"))["ok"] is True


async def test_streams_end_with_a_line_without_more(short_dir: Path) -> None:
    async with serving(short_dir) as (path, _), client(path) as peer:
        first = await peer.ask("s", "count", {"n": 3})
        lines = [first] + [await peer.answer() for _ in range(3)]
        assert [line.get("more") for line in lines] == [True, True, True, None]
        assert [line["result"] for line in lines] == [0, 1, 2, None]
        assert (await peer.ask("after", "echo"))["id"] == "after"


async def test_a_hundred_concurrent_clients_are_all_answered(short_dir: Path) -> None:
    answers: list[tuple[int, int]] = []

    async def one(number: int) -> None:
        async with client(path) as peer:
            for turn in range(5):
                answer = await peer.ask(number * 10 + turn, "echo", {"delay": 0.01, "n": number})
                assert answer["result"]["echo"]["n"] == number
                answers.append((number, answer["id"]))

    async with serving(short_dir) as (path, control):
        async with anyio.create_task_group() as tg:
            for number in range(100):
                tg.start_soon(one, number)
        assert control.served == 500
    assert sorted(answers) == [(n, n * 10 + t) for n in range(100) for t in range(5)]


async def test_an_idle_connection_is_closed(short_dir: Path) -> None:
    async with serving(short_dir, idle_seconds=0.3) as (path, _), client(path) as peer:
        answer = await peer.answer()
        assert answer["error"]["code"] == protocol.IDLE_TIMEOUT
        assert await peer.closed()


async def test_a_full_server_makes_room_by_closing_the_longest_idle(short_dir: Path) -> None:
    async with (
        serving(short_dir, max_clients=3) as (path, control),
        client(path) as first,
        client(path) as second,
        client(path) as third,
    ):
        for peer in (first, second, third):
            assert (await peer.ask(1, "echo"))["ok"] is True
        async with client(path) as newcomer:
            assert (await newcomer.ask(1, "echo"))["ok"] is True
            evicted = await first.answer()
            assert evicted["error"]["code"] == protocol.EVICTED
            assert await first.closed()
            assert (await second.ask(2, "echo"))["ok"] is True
            assert control.connections == 3


async def test_a_client_that_never_reads_cannot_hold_the_server(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "WRITE_TIMEOUT", 0.5)
    async with serving(short_dir) as (path, control), client(path) as greedy:
        await greedy.send(protocol.request_line(1, "flood"))  # and never reads
        await anyio.sleep(0.2)
        async with client(path) as other:
            assert (await other.ask(2, "echo"))["ok"] is True
        await _until_closed(control, 10)  # the flood's connection was dropped
        assert control.connections == 0


class _AdmitsNobody(Access):
    """Rules that refuse every peer, root included, as a stranger would be refused."""

    def may_connect(self, peer: AccessPeer) -> bool:
        return False


async def test_a_refused_client_can_still_send_after_reading_its_refusal(
    short_dir: Path,
) -> None:
    # The refusal comes first and the server half-closes; a request the client
    # writes afterwards must not meet a closed socket ("Broken pipe").
    rules = _AdmitsNobody(group=None, admin_group=None)
    async with serving(short_dir, rules) as (path, _), client(path) as peer:
        refusal = await peer.answer()
        assert refusal["error"]["code"] == protocol.FORBIDDEN
        assert "may not use this socket" in refusal["error"]["message"]
        assert await peer.closed()  # end of the server's answers, seen by the client
        await peer.send(protocol.request_line(1, "echo"))  # raised BrokenResourceError before


def test_the_socket_is_0660_and_removed_at_the_end(short_dir: Path) -> None:
    path = short_dir / "ftd.sock"
    with bound_socket(path, None):
        assert stat.S_ISSOCK(path.lstat().st_mode)
        assert stat.S_IMODE(path.lstat().st_mode) == 0o660
    assert not path.exists()


def test_a_crashed_daemons_socket_is_replaced(short_dir: Path) -> None:
    path = short_dir / "ftd.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(path))
    leftover.close()  # the file stays, as after a SIGKILL
    with bound_socket(path, None) as sock:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(str(path))
        probe.close()
        assert sock.getsockname() == str(path)


def test_a_live_socket_is_not_stolen(short_dir: Path) -> None:
    path = short_dir / "ftd.sock"
    with bound_socket(path, None):
        with pytest.raises(LockHeldError, match=r"ftd\.sock\.lock"), bound_socket(path, None):
            pass
        assert stat.S_ISSOCK(path.lstat().st_mode)


def test_a_file_that_is_not_a_socket_is_left_alone(short_dir: Path) -> None:
    path = short_dir / "ftd.sock"
    path.write_text("someone's notes")
    with pytest.raises(ConfigError, match="not a socket"), bound_socket(path, None):
        pass
    assert path.read_text() == "someone's notes"


def test_a_socket_path_too_long_is_a_configuration_error(short_dir: Path) -> None:
    path = short_dir / ("d" * 120) / "ftd.sock"
    with pytest.raises(ConfigError, match=r"control\.socket"), bound_socket(path, None):
        pass
