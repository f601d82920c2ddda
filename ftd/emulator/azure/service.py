"""The Azure layer's services wired once per app, next to the shared core."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ftd.emulator.azure.deployments import Deployments
from ftd.emulator.azure.jobs import AzureJobs
from ftd.emulator.azure.models import AzureModels
from ftd.emulator.azure.store import AzureStore
from ftd.emulator.chat import ChatEngine

if TYPE_CHECKING:
    from ftd.emulator.core import EmulatorCore


class AzureService:
    def __init__(self, core: EmulatorCore) -> None:
        self.core = core
        self.store = AzureStore(core.state.journal)
        self.jobs = AzureJobs(core, self.store)
        self.models = AzureModels(core, self.jobs)
        self.deployments = Deployments(core, self.store, self.jobs)
        # The core's chat engine, asked through a directory that knows Azure's names.
        self.chat = ChatEngine(core.jobs, self.models, clock=core.clock)


AZURE = web.AppKey("emulator_azure", AzureService)
