"""What the control socket answers while the daemon is still starting.

The socket listens before the heavy parts exist: importing the provider SDKs,
reading the tokenizers, building the providers and finishing what a crash left
take most of a start, and ``ftd status`` should say that the daemon is
starting (and which step it is at) rather than find no socket or hang. Until
the start is done, ``hello`` and ``status`` answer from here; the control
server makes any other command wait for the full set (ftd.control.server).
Light imports only: this module is loaded before the socket answers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ftd import __version__
from ftd.control import protocol
from ftd.control.server import Command
from ftd.logs import get_logger

if TYPE_CHECKING:
    from pathlib import Path

    from ftd.config import Settings
    from ftd.control.server import Call, ControlServer
    from ftd.store import Store
    from ftd.systemd import Notifier

log = get_logger("ftd.daemon.starting")


class Startup:
    """The step the start is at, and what the socket answers meanwhile."""

    def __init__(
        self,
        settings: Settings,
        socket_path: Path,
        notifier: Notifier,
        *,
        pid: int,
        started_at: float,
        started_monotonic: float,
    ) -> None:
        self._settings = settings
        self._socket_path = socket_path
        self._notifier = notifier
        self.pid = pid
        self.started_at = started_at
        self.started_monotonic = started_monotonic
        self.step = "control socket"
        self.store: Store | None = None  # counted in ``status`` once it is open
        self.server: ControlServer | None = None  # its connections and waiting requests

    def at(self, step: str) -> None:
        """The start goes on to ``step``: logged, told to systemd, and shown by ``status``."""
        self.step = step
        log.info("startup_step", step=step, seconds=round(self._uptime(), 3))
        self._notifier.status(f"starting: {step}")

    def commands(self) -> dict[str, Command]:
        """What answers at once while starting."""
        return {"hello": Command(self._hello), "status": Command(self._status)}

    def _uptime(self) -> float:
        return time.monotonic() - self.started_monotonic

    async def _hello(self, call: Call) -> dict[str, Any]:
        return {
            "version": __version__,
            "protocol": protocol.VERSION,
            "pid": self.pid,
            "starting": self.step,
        }

    async def _status(self, call: Call) -> dict[str, Any]:
        """The figures that need none of the parts still starting."""
        settings = self._settings
        answer: dict[str, Any] = {
            "version": __version__,
            "pid": self.pid,
            "started_at": self.started_at,
            "uptime_seconds": round(self._uptime(), 3),
            "starting": self.step,
            "provider": {"kind": settings.provider.kind, "base_url": settings.provider.base_url},
            "paths": {
                "state_dir": str(settings.paths.state_dir),
                "drop_dir": str(settings.paths.drop_dir),
                "socket": str(self._socket_path),
            },
            "warnings": [],
        }
        if self.server is not None:
            answer["connections"] = self.server.connections
            answer["waiting"] = self.server.waiting
        store = self.store
        if store is not None:
            datasets = await store.read("SELECT state, count(*) AS n FROM datasets GROUP BY state")
            jobs = await store.read("SELECT status, count(*) AS n FROM jobs GROUP BY status")
            answer["datasets"] = {r["state"]: r["n"] for r in datasets}
            answer["jobs"] = {r["status"]: r["n"] for r in jobs}
        return answer
