"""The Together flavour: its id formats and its routes over the shared core."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftd.emulator.flavor import Flavor
from ftd.emulator.together.ids import TogetherIdFormat
from ftd.emulator.together.routes import add_routes
from ftd.emulator.together.service import TOGETHER, TogetherService

if TYPE_CHECKING:
    from aiohttp import web

    from ftd.emulator.core import EmulatorCore
    from ftd.emulator.ids import IdFormat


class TogetherFlavor(Flavor):
    """Together's API is under ``/v1`` with Bearer auth and OpenAI-shaped error bodies
    (``ErrorData``: ``{"error": {"message", "type", "param", "code"}}``), so the
    core's request surface serves it unchanged."""

    name = "together"
    base_path = "/v1"

    def id_format(self) -> IdFormat:
        return TogetherIdFormat()

    def add_routes(self, app: web.Application, core: EmulatorCore) -> None:
        app[TOGETHER] = TogetherService(core)
        add_routes(app)
