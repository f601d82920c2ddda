"""Running the emulator inside the current event loop: the API tests and tools use.

    async with Emulator(EmulatorSettings(runtime=RuntimeConfig(speed=100))) as emulator:
        client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="test-key")

The socket is bound before the server starts, so port 0 yields the real port
at once and ``base_url`` is valid as soon as ``start()`` returns.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING

from aiohttp import web

from ftd.emulator import tokens
from ftd.emulator.admin import add_admin_routes
from ftd.emulator.core import CORE, EmulatorCore
from ftd.emulator.flavor import Flavor, flavor_named
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

log = get_logger(__name__)

# JSON bodies (chat prompts, job requests) may be large; multipart uploads are
# streamed and checked against their own caps instead.
MAX_JSON_BODY = 64 * 1024 * 1024


def build_app(core: EmulatorCore, flavor: Flavor | None = None) -> web.Application:
    app = web.Application(middlewares=[core.traffic.middleware], client_max_size=MAX_JSON_BODY)
    app[CORE] = core
    (flavor or Flavor()).add_routes(app, core)
    add_admin_routes(app)
    return app


class Emulator:
    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self.flavor = flavor_named(self.settings.flavor)
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self._core: EmulatorCore | None = None
        self.port: int | None = None

    @property
    def core(self) -> EmulatorCore:
        if self._core is None:
            raise RuntimeError("the emulator is not running")
        return self._core

    @property
    def config(self) -> RuntimeConfig:
        """The live knobs; changing a field takes effect on the next request."""
        return self.settings.runtime

    @property
    def root_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the emulator is not running")
        host = self.settings.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}{self.flavor.base_path}"

    async def start(self) -> None:
        await asyncio.to_thread(tokens.warm_up)
        flavor = self.flavor
        core = EmulatorCore(
            self.settings,
            clock=self._clock,
            id_format=flavor.id_format(),
            surface=flavor.surface(),
        )
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.settings.host, self.settings.port))
            sock.listen(1024)
            sock.setblocking(False)
            runner = web.AppRunner(build_app(core, flavor), access_log=None, handle_signals=False)
            await runner.setup()
            await web.SockSite(runner, sock, backlog=1024).start()
        except BaseException:
            sock.close()
            core.close()
            raise
        self._core, self._runner = core, runner
        self.port = int(sock.getsockname()[1])
        log.info(
            "emulator_started",
            url=self.base_url,
            flavor=flavor.name,
            state=str(self.settings.state_path) if self.settings.state_path else None,
            jobs=len(core.state.jobs),
            files=len(core.state.files),
        )

    async def stop(self) -> None:
        runner, core = self._runner, self._core
        self._runner = self._core = None
        if runner is not None:
            await runner.cleanup()
        if core is not None:
            core.close()
            log.info("emulator_stopped", requests=core.traffic.stats.total)
        self.port = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
