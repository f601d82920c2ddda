"""Opening a page in headless Chromium over the DevTools protocol, watching for anything wrong.

Chromium runs with a fresh profile and its background networking off; the
page is loaded from disk, and every console error, uncaught exception, failed
load and request that is not for the file itself is collected. The result
carries a full-page screenshot, a PDF print (proof that it prints) and a few
layout facts measured in the page.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
START_TIMEOUT = 30.0
CALL_TIMEOUT = 60.0

# Facts about the page measured inside it: what was drawn, and whether anything overflows.
MEASURE = """(() => {
  const svgs = [...document.querySelectorAll('svg')];
  const sizes = svgs.map(s => s.getBoundingClientRect()).map(r => [r.width, r.height]);
  const texts = [...document.querySelectorAll('svg text')].map(t => t.getBoundingClientRect());
  return JSON.stringify({
    title: document.title,
    sections: [...document.querySelectorAll('section')].map(s => s.id),
    svgs: sizes,
    smallest_text_px: texts.length ? Math.min(...texts.map(r => r.height)) : null,
    page_width: document.documentElement.scrollWidth,
    view_width: window.innerWidth,
    images: document.images.length,
  });
})()"""


def executable() -> str | None:
    found = (shutil.which(name) for name in CANDIDATES)
    return next((path for path in found if path), None)


@dataclass
class PageResult:
    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""
    pdf: bytes = b""


class DevTools:
    """One page target's DevTools connection: calls by id, events into a list."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._loaded = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._waiting:
                self._waiting.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)
                if data["method"] == "Page.loadEventFired":
                    self._loaded.set()

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        await self._ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, CALL_TIMEOUT)
        if "error" in answer:
            raise RuntimeError(f"DevTools {method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def loaded(self) -> None:
        await asyncio.wait_for(self._loaded.wait(), CALL_TIMEOUT)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def _devtools_port(profile: Path, process: asyncio.subprocess.Process) -> int:
    marker = profile / "DevToolsActivePort"
    for _ in range(int(START_TIMEOUT * 10)):
        if process.returncode is not None:
            raise RuntimeError(f"chromium exited with status {process.returncode} at start")
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        await asyncio.sleep(0.1)
    raise RuntimeError(f"chromium did not open DevTools within {START_TIMEOUT:.0f} s")


def _problems(events: list[dict[str, Any]], page_url: str) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    requests: list[str] = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            problems.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            problems.append(f"console {params['type']}: {params.get('args')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            problems.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Network.loadingFailed":
            problems.append(f"load failed: {params.get('errorText')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url != page_url and not url.startswith("data:"):
                requests.append(url)
    return problems, requests


async def open_page(url: str, *, width: int = 1280, height: int = 800) -> PageResult:
    """Loads ``url`` (a file:// one) in headless Chromium at a laptop's width; what happened."""
    browser = executable()
    if browser is None:
        raise FileNotFoundError("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="ftd-chromium-") as profile:
        process = await asyncio.create_subprocess_exec(
            browser,
            *FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "HOME": profile},
            start_new_session=True,  # its helpers in one group, to be stopped with it
        )
        try:
            return await _drive(process, Path(profile), url, width, height)
        finally:
            await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """The browser and every helper it started: they write to the profile until they exit,
    and the profile is removed next."""
    group = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        await process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


async def _drive(
    process: asyncio.subprocess.Process, profile: Path, url: str, width: int, height: int
) -> PageResult:
    port = await _devtools_port(profile, process)
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT)) as http:
        async with http.get(f"{base}/json/list") as answer:
            targets = await answer.json()
        page = next(t for t in targets if t.get("type") == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            tools = DevTools(ws)
            try:
                return await _load(tools, url, width, height)
            finally:
                await tools.close()


async def _load(tools: DevTools, url: str, width: int, height: int) -> PageResult:
    for domain in ("Page", "Runtime", "Log", "Network"):
        await tools.call(f"{domain}.enable")
    await tools.call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    await tools.call("Page.navigate", url=url)
    await tools.loaded()
    measured = await tools.call("Runtime.evaluate", expression=MEASURE, returnByValue=True)
    facts: dict[str, Any] = json.loads(measured["result"]["value"])
    layout = await tools.call("Page.getLayoutMetrics")
    content = layout["cssContentSize"]
    shot = await tools.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": width, "height": content["height"], "scale": 1},
    )
    pdf = await tools.call("Page.printToPDF", printBackground=False, preferCSSPageSize=True)
    problems, requests = _problems(tools.events, url)
    return PageResult(
        problems=problems,
        requests=requests,
        facts=facts,
        screenshot=base64.b64decode(shot["data"]),
        pdf=base64.b64decode(pdf["data"]),
    )
