"""Fixtures: an in-process emulator on 127.0.0.1, an SDK client for it, a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import openai
import pytest

from ftd.emulator.control import EmulatorControl
from ftd.emulator.server import Emulator
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from tests.emulator.helpers import FakeClock

StartEmulator = Callable[..., AbstractAsyncContextManager[Emulator]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def start_emulator() -> StartEmulator:
    """A factory: ``async with start_emulator(speed=50, clock=c) as emulator: ...``."""

    @asynccontextmanager
    async def start(
        *, clock: FakeClock | None = None, state_path: Any = None, **runtime: Any
    ) -> AsyncIterator[Emulator]:
        runtime.setdefault("seed", 1234)
        settings = EmulatorSettings(state_path=state_path, runtime=RuntimeConfig(**runtime))
        emulator = Emulator(settings) if clock is None else Emulator(settings, clock=clock)
        async with emulator:
            yield emulator

    return start


@pytest.fixture
async def emulator(start_emulator: StartEmulator, clock: FakeClock) -> AsyncIterator[Emulator]:
    """An emulator whose job clock only moves when the test advances it."""
    async with start_emulator(clock=clock) as running:
        yield running


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=emulator.base_url, api_key="test-key", max_retries=0
    ) as sdk:
        yield sdk


@pytest.fixture
async def control(emulator: Emulator) -> AsyncIterator[EmulatorControl]:
    async with EmulatorControl(emulator.root_url) as admin:
        yield admin
