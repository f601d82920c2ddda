"""The running daemon's parts, as the control commands reach them.

One object built by the composition root; the commands read the store,
nudge the stages and call the provider through it. ``settings`` is replaced
on reload, so the parts that honour a reload read it from here each time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from ftd.config import Settings
    from ftd.daemon.deployments import Deployer
    from ftd.daemon.prepare import Preparer
    from ftd.daemon.reports import Reports
    from ftd.pace import Pace
    from ftd.providers import Providers
    from ftd.store import Store
    from ftd.tracker import Tracker


@dataclass
class Parts:
    settings: Settings
    store: Store
    providers: Providers
    tracker: Tracker
    pace: Pace
    wake_prepare: Callable[[], None]
    wake_submit: Callable[[], None]
    socket_path: Path
    reload: Callable[[], Awaitable[dict[str, Any]]] | None = None
    # The evaluation service once it runs: queue (``request``) and progress.
    evaluations: Any = None
    reports: Reports | None = None
    # The recorder (ftd.daemon.recorder) once it runs: recordings on request, and
    # the models that retire unrecorded.
    recorder: Any = None
    deployer: Deployer | None = None
    # Starts runs by hand (``ftd train``, a run's retry) through the spend guard.
    preparer: Preparer | None = None
    connections: Callable[[], int] = lambda: 0
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)

    def uptime(self) -> float:
        return time.monotonic() - self.started_monotonic
