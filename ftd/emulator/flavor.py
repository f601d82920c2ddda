"""Which API the emulator speaks: one thin layer per flavour over the same core.

The core (clock, jobs, files, persistence, faults, stats, admin routes) is
shared; a flavour contributes only its routes, its id formats, which paths
count as API (and so get faults, auth and stats), its auth rules and the
shape of its error bodies. ``EmulatorSettings.flavor`` picks one by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftd.emulator import ids
from ftd.emulator.routes import add_api_routes
from ftd.emulator.traffic import ApiSurface

if TYPE_CHECKING:
    from aiohttp import web

    from ftd.emulator.core import EmulatorCore


class Flavor:
    """The OpenAI flavour, and the hooks another flavour overrides."""

    name = "openai"
    base_path = "/v1"  # appended to the root URL to give the SDK's base_url

    def id_format(self) -> ids.IdFormat:
        return ids.IdFormat()

    def surface(self) -> ApiSurface:
        return ApiSurface()

    def add_routes(self, app: web.Application, core: EmulatorCore) -> None:
        add_api_routes(app)


def flavor_named(name: str) -> Flavor:
    if name == "azure":
        from ftd.emulator.azure.flavor import (
            AzureFlavor,
        )  # loaded on demand: openai needs none of it

        return AzureFlavor()
    if name == "together":
        from ftd.emulator.together.flavor import TogetherFlavor

        return TogetherFlavor()
    return Flavor()
