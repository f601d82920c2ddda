"""Shared pieces of the Together-flavour tests: the emulator and a spec-checking client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from ftd.emulator.server import Emulator
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from tests.emulator import together_schemas
from tests.emulator.helpers import FakeClock

KEY = "together-test-key"
LLAMA_8B = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"  # serverless LoRA
LLAMA_70B = "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference"  # needs an endpoint
QWEN_72B = "Qwen/Qwen2.5-72B-Instruct"  # LoRA only


@asynccontextmanager
async def together_emulator(
    *, clock: FakeClock | None = None, state_path: Any = None, **runtime: Any
) -> AsyncIterator[Emulator]:
    runtime.setdefault("seed", 1234)
    settings = EmulatorSettings(
        state_path=state_path, runtime=RuntimeConfig(**runtime), flavor="together"
    )
    emulator = Emulator(settings) if clock is None else Emulator(settings, clock=clock)
    async with emulator:
        yield emulator


@dataclass
class Answer:
    status: int
    body: Any


class Together:
    """Plain HTTP to the emulator; every JSON answer is checked against the spec's schema
    for its route and status, and the checks' findings are kept in ``problems``."""

    def __init__(self, emulator: Emulator, key: str | None = KEY) -> None:
        self._base = emulator.base_url
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._session = aiohttp.ClientSession(headers=headers)
        self.problems: list[str] = []
        self.checked = 0

    async def close(self) -> None:
        await self._session.close()

    async def call(self, method: str, route: str, path: str | None = None, **kwargs: Any) -> Answer:
        """``route`` is the spec's path template; ``path`` the concrete one, if different."""
        url = self._base + (path or route)
        async with self._session.request(method, url, **kwargs) as response:
            raw = await response.read()
            body: Any = None
            if raw and response.content_type == "application/json":
                body = await response.json()
            elif raw:
                body = raw
        self._check(method, route, response.status, body)
        return Answer(response.status, body)

    def _check(self, method: str, route: str, status: int, body: Any) -> None:
        responses = together_schemas.load().paths[route][method.lower()]["responses"]
        declared = responses.get(str(status))
        if declared is None:
            if status >= 400:  # an error the spec does not list: it must still be ErrorData
                errors = together_schemas.load().errors(
                    together_schemas.load().component("ErrorData"), body
                )
                self._note(method, route, status, errors)
                return
            self.problems.append(f"{method} {route}: status {status} not declared")
            return
        content = declared.get("content", {})
        if "application/json" not in content:
            return
        self._note(method, route, status, together_schemas.errors(method, route, body, str(status)))

    def _note(self, method: str, route: str, status: int, errors: list[str]) -> None:
        self.checked += 1
        self.problems.extend(f"{method} {route} {status}: {e}" for e in errors)

    async def upload(self, content: bytes, name: str = "train.jsonl") -> Answer:
        form = aiohttp.FormData()
        form.add_field("purpose", "fine-tune")
        form.add_field("file_name", name)
        form.add_field("file", content, filename=name, content_type="application/octet-stream")
        return await self.call("POST", "/files/upload", data=form)

    async def create_job(self, **body: Any) -> Answer:
        return await self.call("POST", "/fine-tunes", json=body)

    async def job(self, job_id: str) -> Answer:
        return await self.call("GET", "/fine-tunes/{id}", f"/fine-tunes/{job_id}")
