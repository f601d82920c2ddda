"""The control socket while the daemon starts: honest answers before the parts exist.

In process, a ControlServer with a Startup answers ``status`` at once, makes
other commands wait for the full set (and refuses them, naming the step, if
the start takes too long). End to end, a daemon whose import of the OpenAI SDK
is held (by a test-only import hook, ``gate/sitecustomize.py``) answers
``ftd status`` with "starting: providers", and a command asked meanwhile is
answered once the start is done.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from ftd.config import load_settings
from ftd.control import protocol
from ftd.control import server as control_server
from ftd.control.access import Access
from ftd.control.access import Peer as AccessPeer
from ftd.control.client import Client
from ftd.control.server import Call, Command, ControlServer, bound_socket
from ftd.daemon.starting import Startup
from ftd.store import Store
from ftd.systemd import Notifier
from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import run_ftd, wait_until

GATE = Path(__file__).parent / "gate"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # A socket path holds 107 bytes: pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="ftd-") as directory:
        yield Path(directory)


class ReadOnly(Access):
    """Every peer may connect and read; none may change anything."""

    def may_change(self, peer: AccessPeer) -> bool:
        return False


async def _cancelled(call: Call) -> dict[str, Any]:
    return {"cancelled": call.args["id"]}


@asynccontextmanager
async def starting_server(
    directory: Path, access: Access | None = None
) -> AsyncIterator[tuple[Startup, ControlServer, Any]]:
    """A server answering from a Startup, a store with one dataset, and a connection to it."""
    settings = load_settings(
        None,
        env={"HOME": str(directory)},
        overrides={"paths": {"state_dir": str(directory), "drop_dir": str(directory / "drop")}},
    )
    startup = Startup(
        settings,
        directory / "ftd.sock",
        Notifier(None),
        pid=1,
        started_at=0.0,
        started_monotonic=0.0,
    )
    rules = access if access is not None else Access(group=None, admin_group=None)
    server = ControlServer(
        startup.commands(),
        rules,
        max_clients=8,
        idle_seconds=30.0,
        max_request_bytes=4096,
        starting=lambda: startup.step,
    )
    store = await Store.open(directory / "ftd.db")
    await store.add_dataset(sha256="a" * 64, name="a.jsonl", path="/x", size_bytes=1)
    startup.store = store
    startup.server = server
    try:
        with bound_socket(directory / "ftd.sock", None) as sock:
            async with anyio.create_task_group() as tg:
                await tg.start(server.serve, sock)

                async def ask(cmd: str, args: dict[str, Any] | None = None) -> Any:
                    """One request on a connection of its own (they may wait side by side)."""
                    async with await anyio.connect_unix(directory / "ftd.sock") as stream:
                        await stream.send(protocol.request_line(1, cmd, args or {}))
                        reader = BufferedByteReceiveStream(stream)
                        with anyio.fail_after(30):
                            return json.loads(await reader.receive_until(b"\n", 1 << 20))

                yield startup, server, ask
                # Cancelling a read just being woken upsets asyncio: let the server see us go.
                for _ in range(1000):
                    if not server.connections:
                        break
                    await anyio.sleep(0.01)
                tg.cancel_scope.cancel()
    finally:
        await store.close()


@pytest.mark.anyio
async def test_status_answers_at_once_with_the_step_and_the_counts(short_dir: Path) -> None:
    async with starting_server(short_dir) as (startup, _server, ask):
        startup.at("providers")
        answer = await ask("status")
        assert answer["ok"] is True
        result = answer["result"]
        assert result["starting"] == "providers"
        assert result["datasets"] == {"detected": 1}
        assert result["paths"]["socket"] == str(short_dir / "ftd.sock")
        assert "tracker" not in result  # no figure of a part that does not run yet
        hello = await ask("hello")
        assert hello["result"]["starting"] == "providers"


@pytest.mark.anyio
async def test_another_command_waits_for_the_full_set(short_dir: Path) -> None:
    async with starting_server(short_dir) as (startup, server, ask):
        answers: list[Any] = []

        async def cancel() -> None:
            answers.append(await ask("cancel", {"id": 7}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel)
            for _ in range(1000):
                if server.waiting:
                    break
                await anyio.sleep(0.01)
            assert server.waiting == 1
            assert (await ask("status"))["result"]["waiting"] == 1
            assert answers == []  # held, not refused: the early set has no cancel
            server.serve_all({"cancel": Command(_cancelled, changes=True), **startup.commands()})
        assert answers == [{"v": 1, "id": 1, "ok": True, "result": {"cancelled": 7}}]
        unknown = await ask("no-such-command")
        assert unknown["error"]["code"] == protocol.UNKNOWN_COMMAND
        assert "cancel" in unknown["error"]["message"]  # the full set's names


@pytest.mark.anyio
async def test_a_change_that_waited_is_still_checked_against_access(short_dir: Path) -> None:
    async with starting_server(short_dir, ReadOnly(group=None, admin_group=None)) as (
        startup,
        server,
        ask,
    ):
        server.serve_all({"cancel": Command(_cancelled, changes=True), **startup.commands()})
        answer = await ask("cancel", {"id": 7})
        assert answer["error"]["code"] == protocol.FORBIDDEN


@pytest.mark.anyio
async def test_a_start_too_slow_refuses_the_command_naming_its_step(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control_server, "START_WAIT_SECONDS", 0.2)
    async with starting_server(short_dir) as (startup, _server, ask):
        startup.at("recovery")
        answer = await ask("jobs")
        assert answer["ok"] is False
        assert answer["error"]["code"] == protocol.UNAVAILABLE
        assert "still starting (recovery)" in answer["error"]["message"]
        assert (await ask("status"))["result"]["starting"] == "recovery"  # the connection goes on


def test_the_socket_answers_before_the_providers_are_built(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    daemon = make_daemon(start_emulator())
    gate = tmp_path / "openai-gate"
    held = gate.with_name(gate.name + ".held")
    path = os.pathsep.join([str(GATE), *filter(None, [os.environ.get("PYTHONPATH")])])
    daemon.start(wait=False, env={"PYTHONPATH": path, "FTD_TEST_OPENAI_GATE": str(gate)})
    # The daemon is importing the OpenAI SDK, which it needs to build its provider.
    wait_until("the daemon reaches its import of openai", held.exists, timeout=90)

    with Client(daemon.socket, timeout=30) as client:
        answer = client.call("status")
    assert answer["starting"] == "providers"
    assert "profiles" not in answer
    assert "tracker" not in answer
    assert not daemon.events("daemon_started")
    shown = daemon.ftd("status")
    assert shown.returncode == 0, shown.stderr
    assert "starting: providers" in shown.stdout
    with socket.socket(socket.AF_UNIX) as early:
        early.settimeout(60)
        early.connect(str(daemon.socket))
        early.sendall(protocol.request_line(1, "jobs", {}))

        def held_request() -> bool:
            with Client(daemon.socket, timeout=30) as client:
                return bool(client.call("status")["waiting"] == 1)

        wait_until("the daemon holds the jobs request", held_request, timeout=30)
        gate.touch()  # the import goes on; the start finishes
        answer = json.loads(early.makefile("rb").readline())
    assert answer["ok"] is True, answer
    assert answer["result"] == {"jobs": []}  # answered by the full set once the start was done
    daemon.wait_for("daemon_started", timeout=90)
    after = json.loads(run_ftd("status", "--json", "--socket", str(daemon.socket)).stdout)
    assert "starting" not in after
    assert "profiles" in after
    assert daemon.stop() == 0
