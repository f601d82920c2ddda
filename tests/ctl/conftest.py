"""The end-to-end fixtures (an emulator process, ``ftd run`` processes) for the commands too."""

from __future__ import annotations

from tests.daemon.conftest import make_daemon, start_emulator

__all__ = ["make_daemon", "start_emulator"]
