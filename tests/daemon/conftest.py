"""Fixtures for end-to-end tests: an emulator process and ``ftd run`` processes beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ftd.emulator.process import EmulatorProcess
from tests.daemon.harness import Daemon, Emulator, azure_profile

StartEmulator = Callable[..., Emulator]
MakeDaemon = Callable[..., Daemon]


@pytest.fixture
def start_emulator(tmp_path: Path) -> Iterator[StartEmulator]:
    processes: list[EmulatorProcess] = []

    def start(*args: str) -> Emulator:
        process = EmulatorProcess(
            "--speed", "20", *args, log_path=tmp_path / f"emulator-{len(processes)}.log"
        )
        process.start()
        processes.append(process)
        return Emulator(process.base_url)

    yield start
    for process in processes:
        process.stop()


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[MakeDaemon]:
    daemons: list[Daemon] = []

    def make(emulator: Emulator, **extra: dict[str, Any]) -> Daemon:
        env: dict[str, str] = {}
        if emulator.azure:  # the Azure flavour is the default profile
            sections, env = azure_profile(emulator.root_url)
            extra = {**sections, **extra}
        daemon = Daemon(tmp_path / f"ftd-{len(daemons)}", emulator.base_url, extra, env)
        daemons.append(daemon)
        return daemon

    yield make
    for daemon in daemons:
        daemon.close()
