"""A small client for the ``/_emulator`` routes, for tests and benchmarks.

async with EmulatorControl(emulator.root_url) as control:
    await control.configure(error_rate=1.0)
    stats = await control.stats()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp

from ftd.errors import FtdError

if TYPE_CHECKING:
    from types import TracebackType


class ControlError(FtdError):
    """The emulator refused a control request (for instance an unknown setting)."""

    def __init__(self, path: str, status: int, body: str) -> None:
        super().__init__(f"{path}: HTTP {status}: {body}")
        self.status = status


class EmulatorControl:
    def __init__(self, root_url: str) -> None:
        self.root_url = root_url.rstrip("/").removesuffix("/v1").removesuffix("/openai")
        self._session: aiohttp.ClientSession | None = None

    async def _call(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.request(method, self.root_url + path, json=body) as response:
            text = await response.text()
            if response.status != 200:
                raise ControlError(path, response.status, text)
            data: dict[str, Any] = await response.json(content_type=None)
            return data

    async def config(self) -> dict[str, Any]:
        return await self._call("GET", "/_emulator/config")

    async def configure(self, **changes: object) -> dict[str, Any]:
        return await self._call("POST", "/_emulator/config", changes)

    async def stats(self) -> dict[str, Any]:
        return await self._call("GET", "/_emulator/stats")

    async def reset_stats(self) -> dict[str, Any]:
        return await self._call("POST", "/_emulator/reset_stats")

    async def state(self) -> dict[str, Any]:
        return await self._call("GET", "/_emulator/state")

    async def retire(self, model: str) -> dict[str, Any]:
        """Shut ``model`` down: it answers 404 model_not_found from then on."""
        return await self._call("POST", "/_emulator/retire", {"model": model})

    async def deployments(self) -> dict[str, Any]:
        """Azure flavour only: live deployments and the PUT and DELETE counts."""
        return await self._call("GET", "/_emulator/deployments")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> EmulatorControl:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
