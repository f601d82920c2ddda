"""Completions and list pages over aiohttp: the SDK client's headers, the adapter's errors,
the answer's text."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from aiohttp import web

from ftd.errors import RemoteError
from ftd.pace import Pace
from ftd.providers.kinds import AUTH, NOT_FOUND, RATE_LIMITED, TRANSIENT
from ftd.providers.openai_api import OpenAIProvider

pytestmark = pytest.mark.anyio
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


JOB = {"id": "ftjob-1", "status": "running", "model": "m", "metadata": {"ftd_instance": "abc"}}
EVENT = {"id": "ftevent-1", "created_at": 1_700_000_000, "level": "info", "message": "Step 1"}


class Server:
    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.answers: list[web.Response] = []
        self.pages: list[tuple[str, dict[str, str], dict[str, str]]] = []

    async def page(self, request: web.Request) -> web.Response:
        self.pages.append((request.path, dict(request.query), dict(request.headers)))
        if self.answers:
            return self.answers.pop(0)
        item = EVENT if request.path.endswith("/events") else JOB
        return web.json_response({"object": "list", "data": [item], "has_more": True})

    async def chat(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.headers), await request.json()))
        return self.answers.pop(0) if self.answers else web.json_response(ANSWER)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    state = Server()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", state.chat)
    app.router.add_get("/v1/fine_tuning/jobs", state.page)
    app.router.add_get("/v1/fine_tuning/jobs/{id}/events", state.page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


def provider(base_url: str) -> OpenAIProvider:
    client = openai.AsyncOpenAI(
        base_url=base_url, api_key="sk-test", organization="org-1", project="proj-1"
    )
    return OpenAIProvider("default", client, pace=Pace(concurrency=4, per_minute=None))


async def ask(remote: OpenAIProvider) -> Any:
    return await remote.chat(
        model="m",
        messages=[{"role": "user", "content": "hello"}],
        params={"temperature": 0.0, "max_completion_tokens": 5},
        request_timeout=10.0,
    )


async def test_the_request_carries_the_sdk_clients_headers_and_the_params(
    server: tuple[Server, str],
) -> None:
    state, url = server
    remote = provider(url)
    try:
        answer = await ask(remote)
    finally:
        await remote.close()
    assert (answer.text, answer.prompt_tokens, answer.completion_tokens) == ("hi", 3, 1)
    [(headers, body)] = state.seen
    assert headers["Authorization"] == "Bearer sk-test"
    assert (headers["OpenAI-Organization"], headers["OpenAI-Project"]) == ("org-1", "proj-1")
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hello"}],
        "temperature": 0.0,
        "max_completion_tokens": 5,
    }


async def test_a_429_is_rate_limited_with_the_wait_the_server_asked(
    server: tuple[Server, str],
) -> None:
    state, url = server
    state.answers.append(
        web.json_response(
            {"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
            status=429,
            headers={"retry-after-ms": "250"},
        )
    )
    remote = provider(url)
    try:
        with pytest.raises(RemoteError) as caught:
            await ask(remote)
    finally:
        await remote.close()
    error = caught.value
    assert (error.kind, error.status, error.code, error.retryable) == (
        RATE_LIMITED,
        429,
        "rate_limit_exceeded",
        True,
    )
    assert error.retry_after == 0.25
    assert "slow down" in str(error)


async def test_a_refused_key_is_an_auth_error_even_with_a_body_that_is_not_json(
    server: tuple[Server, str],
) -> None:
    state, url = server
    state.answers.append(web.Response(text="<html>no</html>", status=401))
    remote = provider(url)
    try:
        with pytest.raises(RemoteError) as caught:
            await ask(remote)
    finally:
        await remote.close()
    assert (caught.value.kind, caught.value.retryable) == (AUTH, False)


async def test_a_closed_port_is_a_retryable_transient_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    remote = provider(f"http://127.0.0.1:{port}/v1")
    try:
        with pytest.raises(RemoteError) as caught:
            await ask(remote)
    finally:
        await remote.close()
    assert (caught.value.kind, caught.value.retryable) == (TRANSIENT, True)


async def test_list_pages_carry_the_headers_the_filter_and_the_cursor(
    server: tuple[Server, str],
) -> None:
    state, url = server
    remote = provider(url)
    try:
        jobs, more_jobs = await remote.jobs_page({"ftd_instance": "abc"}, "ftjob-9", limit=100)
        events, more_events = await remote.events_page("ftjob-1", "ftevent-7", limit=50)
    finally:
        await remote.close()
    assert ([j.id for j in jobs], more_jobs) == (["ftjob-1"], True)
    assert ([e.id for e in events], more_events) == (["ftevent-1"], True)
    [(jobs_path, jobs_query, headers), (events_path, events_query, _)] = state.pages
    assert jobs_path == "/v1/fine_tuning/jobs"
    assert jobs_query == {"metadata[ftd_instance]": "abc", "after": "ftjob-9", "limit": "100"}
    assert (events_path, events_query) == (
        "/v1/fine_tuning/jobs/ftjob-1/events",
        {"after": "ftevent-7", "limit": "50"},
    )
    assert headers["Authorization"] == "Bearer sk-test"
    assert (headers["OpenAI-Organization"], headers["OpenAI-Project"]) == ("org-1", "proj-1")


async def test_a_list_page_that_fails_is_the_adapters_error(
    server: tuple[Server, str],
) -> None:
    state, url = server
    state.answers.append(
        web.json_response({"error": {"message": "no such job", "code": None}}, status=404)
    )
    remote = provider(url)
    try:
        with pytest.raises(RemoteError) as caught:
            await remote.events_page("ftjob-gone")
    finally:
        await remote.close()
    assert (caught.value.kind, caught.value.status, caught.value.retryable) == (
        NOT_FOUND,
        404,
        False,
    )
    assert "no such job" in str(caught.value)
