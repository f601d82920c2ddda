"""No answer's body can cost ftd more than its bound, however the server sends it."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from ftd.config import load_settings
from ftd.errors import RemoteError
from ftd.providers import JobEvent, Provider
from ftd.providers.bodies import TOO_LARGE
from ftd.providers.registry import open_provider

pytestmark = pytest.mark.anyio
EVENT = {"object": "fine_tuning.job.event", "created_at": 1, "level": "info", "message": "m"}


class Server:
    """A loopback server whose event lists are as long as the test says; it counts requests."""

    def __init__(self) -> None:
        self.requests = 0
        self.sent = 0
        self.events = 10
        self.declared = True

    async def events_page(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if not self.declared:
            # A body with no length that never ends: only the client's bound stops it.
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            await response.write(b'{"object": "list", "has_more": false, "data": [')
            chunk = b",".join(
                json.dumps({**EVENT, "id": f"ftevent-{i}"}).encode() for i in range(1000)
            )
            try:
                while True:
                    await response.write(chunk + b",")
                    self.sent += len(chunk) + 1
            except (ConnectionResetError, RuntimeError):
                return response
        one = json.dumps({**EVENT, "id": "ftevent-{}"}).encode()
        data = b",".join(one.replace(b"{}", str(i).encode()) for i in range(self.events))
        body = b'{"object": "list", "has_more": false, "data": [' + data + b"]}"
        return web.Response(body=body, content_type="application/json")

    async def compressed(self, request: web.Request) -> web.Response:
        """A gzip body: a small page, or a bomb that inflates to 100 MiB of spaces."""
        self.requests += 1
        if request.match_info["job"] == "ftjob-bomb":
            raw = b'{"object": "list", "has_more": false, "data": [' + b" " * (100 << 20)
        else:
            data = [{**EVENT, "id": f"ftevent-{i}"} for i in range(3)]
            raw = json.dumps({"object": "list", "has_more": False, "data": data}).encode()
        body = gzip.compress(raw, compresslevel=9)
        self.sent += len(body)
        return web.Response(
            body=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    async def content(self, request: web.Request) -> web.StreamResponse:
        """A result file that claims no length and never ends (as a 2 GB one would seem)."""
        self.requests += 1
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        await response.write(b"step,train_loss\n")
        line = b"".join(b"%d,0.5\n" % i for i in range(1, 10_001))
        if request.match_info["file"] == "file-small":
            await response.write(line)
            return response
        try:
            while True:
                await response.write(line)
                self.sent += len(line)
        except (ConnectionResetError, RuntimeError):
            return response


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    state = Server()
    app = web.Application()
    app.router.add_get("/v1/fine_tuning/jobs/{job}/events", state.events_page)
    app.router.add_get("/v1/files/{file}/content", state.content)
    app.router.add_get("/v1/gzip/fine_tuning/jobs/{job}/events", state.compressed)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


def provider_at(base_url: str, home: Path) -> Provider:
    settings = load_settings(
        env={"HOME": str(home), "OPENAI_API_KEY": "sk-test"},
        overrides={
            "provider": {"kind": "compatible", "compatible": {"base_url": base_url}},
        },
    )
    return open_provider("default", settings.provider)


async def test_a_page_with_more_items_than_asked_is_cut_to_the_limit(
    server: tuple[Server, str], tmp_path: Path
) -> None:
    state, url = server
    state.events = 1000  # about 80 KiB: under the byte bound, far over the page's limit
    provider = provider_at(url, tmp_path)
    page, more = await provider.events_page("ftjob-1", limit=100)
    assert len(page) == 100
    assert all(isinstance(e, JobEvent) for e in page)
    assert more  # the rest is read from the last kept cursor, if ever
    await provider.close()


async def test_a_million_events_are_refused_at_the_byte_bound(
    server: tuple[Server, str], tmp_path: Path
) -> None:
    state, url = server
    state.events = 1_000_000  # about 80 MiB, declared up front
    provider = provider_at(url, tmp_path)
    with pytest.raises(RemoteError) as caught:
        await provider.events_page("ftjob-1")
    assert caught.value.code == TOO_LARGE
    assert not caught.value.retryable
    assert state.requests == 1  # refused, not asked again
    await provider.close()


async def test_a_body_without_end_is_cut_at_the_byte_bound(
    server: tuple[Server, str], tmp_path: Path
) -> None:
    state, url = server
    state.declared = False
    provider = provider_at(url, tmp_path)
    with pytest.raises(RemoteError) as caught:
        await provider.events_page("ftjob-1")
    assert caught.value.code == TOO_LARGE
    assert state.requests == 1
    assert state.sent < 64 * 1024 * 1024  # the server was stopped long before it gave up
    await provider.close()


async def test_a_normal_page_passes(server: tuple[Server, str], tmp_path: Path) -> None:
    _, url = server
    provider = provider_at(url, tmp_path)
    page, more = await provider.events_page("ftjob-1")
    assert [e.id for e in page] == [f"ftevent-{i}" for i in range(10)]
    assert not more
    await provider.close()


async def test_a_download_over_its_bound_stops_there_and_is_not_repeated(
    server: tuple[Server, str], tmp_path: Path
) -> None:
    state, url = server
    provider = provider_at(url, tmp_path)
    target = tmp_path / "result.csv"
    with pytest.raises(RemoteError) as caught:
        await provider.download("file-huge", target, max_bytes=1 << 20)
    assert caught.value.code == TOO_LARGE
    assert state.requests == 1
    assert target.stat().st_size <= 1 << 20  # on disk, and no more than the bound
    await provider.close()


async def test_a_download_within_its_bound_is_written_whole(
    server: tuple[Server, str], tmp_path: Path
) -> None:
    _, url = server
    provider = provider_at(url, tmp_path)
    target = tmp_path / "result.csv"
    size = await provider.download("file-small", target, max_bytes=1 << 20)
    body = target.read_bytes()
    assert size == len(body)
    assert body.startswith(b"step,train_loss\n1,0.5\n")
    assert body.endswith(b"\n10000,0.5\n")
    await provider.close()


async def test_a_compressed_body_is_bounded_by_what_it_inflates_to(
    server: tuple[Server, str], tmp_path: Path
) -> None:
    state, url = server
    provider = provider_at(url + "/gzip", tmp_path)
    page, _ = await provider.events_page("ftjob-small")
    assert [e.id for e in page] == ["ftevent-0", "ftevent-1", "ftevent-2"]  # decoded once
    with pytest.raises(RemoteError) as caught:
        await provider.events_page("ftjob-bomb")
    assert caught.value.code == TOO_LARGE
    assert state.sent < 1 << 20  # a small body on the wire: only inflating it is bounded
    await provider.close()
