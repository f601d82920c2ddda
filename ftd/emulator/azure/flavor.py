"""The Azure flavour: its id formats, its request surface and its routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftd.emulator.azure.arm import add_arm_routes, admin_deployments, admin_jobs
from ftd.emulator.azure.errors import AzureSurface
from ftd.emulator.azure.ids import AzureIdFormat
from ftd.emulator.azure.routes import add_data_plane_routes
from ftd.emulator.azure.service import AZURE, AzureService
from ftd.emulator.flavor import Flavor
from ftd.emulator.metrics import AZURE_RESULT_COLUMNS

if TYPE_CHECKING:
    from aiohttp import web

    from ftd.emulator.core import EmulatorCore
    from ftd.emulator.ids import IdFormat
    from ftd.emulator.traffic import ApiSurface


class AzureFlavor(Flavor):
    name = "azure"
    base_path = "/openai/v1"

    def id_format(self) -> IdFormat:
        return AzureIdFormat()

    def surface(self) -> ApiSurface:
        return AzureSurface()

    def add_routes(self, app: web.Application, core: EmulatorCore) -> None:
        # Azure's result files: its own header (train_mean_token_accuracy), served as
        # plain CSV; base64 is what OpenAI's service did (POST /_emulator/config may
        # still turn it on).
        core.jobs.result_columns = AZURE_RESULT_COLUMNS
        core.config.result_files_base64 = False
        app[AZURE] = AzureService(core)
        add_data_plane_routes(app)
        add_arm_routes(app)
        app.router.add_get("/_emulator/deployments", admin_deployments)
        app.router.add_get("/_emulator/azure_jobs", admin_jobs)
