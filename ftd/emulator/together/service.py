"""The Together layer's services wired once per app, next to the shared core."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ftd.emulator.chat import ChatEngine
from ftd.emulator.models import ModelDirectory, ServedModel
from ftd.emulator.together.batches import together_batches
from ftd.emulator.together.endpoints import Endpoints
from ftd.emulator.together.jobs import TogetherJobs
from ftd.emulator.together.store import TogetherStore
from ftd.emulator.together.view import JobView

if TYPE_CHECKING:
    from ftd.emulator.core import EmulatorCore


class TogetherModels(ModelDirectory):
    """The core's chat engine asks this which model a name serves."""

    def __init__(self, core: EmulatorCore, endpoints: Endpoints) -> None:
        super().__init__(core.jobs, clock=core.clock)
        self._endpoints = endpoints

    def served(self, name: str) -> ServedModel:
        return self._endpoints.served(name)


class TogetherService:
    def __init__(self, core: EmulatorCore) -> None:
        self.core = core
        self.store = TogetherStore(core.state.journal)
        self.jobs = TogetherJobs(core, self.store)
        self.view = JobView(core, self.jobs)
        self.endpoints = Endpoints(core, self.store, self.jobs)
        self.chat = ChatEngine(core.jobs, TogetherModels(core, self.endpoints), clock=core.clock)
        self.batches = together_batches(core, self.chat.complete)


TOGETHER = web.AppKey("emulator_together", TogetherService)
