"""The emulator's services wired together once, shared by every request handler."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from aiohttp import web

from ftd.emulator.batches import BatchService
from ftd.emulator.chat import ChatEngine
from ftd.emulator.embeddings import EmbeddingEngine
from ftd.emulator.files import FileService
from ftd.emulator.jobs import JobService
from ftd.emulator.models import ModelDirectory
from ftd.emulator.persistence import Journal
from ftd.emulator.state import EmulatorState
from ftd.emulator.traffic import ApiSurface, Traffic
from ftd.emulator.uploads import UploadService

if TYPE_CHECKING:
    from collections.abc import Callable

    from ftd.emulator import ids
    from ftd.emulator.settings import EmulatorSettings


class EmulatorCore:
    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        clock: Callable[[], float] = time.time,
        id_format: ids.IdFormat | None = None,
        surface: ApiSurface | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.runtime
        self.clock = clock
        self.state = EmulatorState(Journal(settings.state_path))
        self.traffic = Traffic(self.config, surface)
        self.jobs = JobService(
            self.state,
            self.config,
            settings.organization,
            clock=clock,
            rng=random.Random(self.config.seed),
            id_format=id_format,
        )
        self.files = FileService(self.state, self.config, clock=clock)
        self.uploads = UploadService(self.state, self.config, clock=clock)
        self.models = ModelDirectory(self.jobs, clock=clock)
        self.chat = ChatEngine(self.jobs, self.models, clock=clock)
        self.embeddings = EmbeddingEngine()
        self.batches = BatchService(self.state, self.config, self.chat.complete, clock=clock)

    def referenced_by_job(self, file_id: str) -> bool:
        return any(
            file_id in (job.training_file, job.validation_file) for job in self.state.jobs.values()
        )

    def close(self) -> None:
        self.state.close()


CORE = web.AppKey("emulator_core", EmulatorCore)
