"""The end-to-end fixtures (an emulator process, ``ftd run`` processes) for these suites too."""

from __future__ import annotations

from tests.daemon.conftest import make_daemon, start_emulator

__all__ = ["make_daemon", "start_emulator"]
