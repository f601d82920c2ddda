"""Faults and limits on demand, the config endpoint, and request counting."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import openai
import pytest

from ftd.emulator.control import ControlError, EmulatorControl
from ftd.emulator.server import Emulator
from tests.emulator.conftest import StartEmulator

pytestmark = pytest.mark.anyio


async def test_config_round_trip_and_validation(control: EmulatorControl) -> None:
    before = await control.config()
    assert before["error_rate"] == 0
    assert before["rpm_limit"] is None
    after = await control.configure(
        latency_ms=5, error_rate=0.25, rpm_limit=100, daily_job_cap=None
    )
    assert (after["latency_ms"], after["error_rate"], after["rpm_limit"]) == (5, 0.25, 100)
    assert await control.config() == after
    for bad in ({"error_rate": 2}, {"no_such_knob": 1}, {"training_not_available": "yes"}):
        with pytest.raises(ControlError) as caught:
            await control.configure(**bad)
        assert caught.value.status == 400
    assert await control.config() == after


async def test_error_rate_one_answers_5xx_with_request_ids(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    await control.configure(error_rate=1.0)
    seen: set[int] = set()
    request_ids: set[str] = set()
    for _ in range(12):
        with pytest.raises(openai.InternalServerError) as caught:
            await client.models.list()
        seen.add(caught.value.status_code)
        assert caught.value.response.headers.get("x-should-retry") is None
        assert caught.value.request_id is not None
        request_ids.add(caught.value.request_id)
        assert caught.value.type == "server_error"
    assert seen <= {500, 502, 503}
    assert len(seen) >= 2
    assert len(request_ids) == 12
    stats = await control.stats()  # the control routes themselves never fail
    assert stats["requests"]["GET /v1/models"] == 12


async def test_rate_limit_rate_one_answers_429_with_headers(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    await control.configure(rate_limit_rate=1.0, retry_after_ms=1500)
    with pytest.raises(openai.RateLimitError) as caught:
        await client.fine_tuning.jobs.list()
    headers = caught.value.response.headers
    assert headers["retry-after"] == "2"
    assert headers["retry-after-ms"] == "1500"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "2s"
    assert int(headers["x-ratelimit-limit-requests"]) > 0
    assert caught.value.code == "rate_limit_exceeded"


async def test_normal_answers_carry_rate_limit_headers(client: openai.AsyncOpenAI) -> None:
    raw = await client.models.with_raw_response.list()
    assert raw.headers["x-ratelimit-limit-requests"] == "10000"
    assert int(raw.headers["x-ratelimit-remaining-requests"]) < 10_000
    assert raw.headers["x-request-id"].startswith("req_")


async def test_rpm_limit_is_a_sliding_window(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    await control.configure(rpm_limit=3)
    remaining = []
    for _ in range(3):
        raw = await client.models.with_raw_response.list()
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]
    with pytest.raises(openai.RateLimitError) as caught:
        await client.models.list()
    wait_ms = int(caught.value.response.headers["retry-after-ms"])
    assert 55_000 <= wait_ms <= 60_000
    assert int(caught.value.response.headers["retry-after"]) == 60
    await control.configure(rpm_limit=None)
    assert (await client.models.list()).data


async def test_drop_rate_one_closes_connections(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    await control.configure(drop_rate=1.0)
    with pytest.raises(openai.APIConnectionError):
        await client.files.list()
    stats = await control.stats()
    assert stats["statuses"]["dropped"] == 1
    await control.configure(drop_rate=0.0)
    assert (await client.files.list()).data == []


async def test_latency_is_added(client: openai.AsyncOpenAI, control: EmulatorControl) -> None:
    await control.configure(latency_ms=800, jitter_ms=100)
    started = time.perf_counter()
    await client.models.list()
    elapsed = time.perf_counter() - started
    assert 0.8 <= elapsed < 5.0
    started = time.perf_counter()
    await control.stats()
    assert time.perf_counter() - started < 0.5  # control routes are never delayed


async def test_answer_delay_holds_an_answer_after_the_effect(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    """A client that gives up during the delay has still created the file."""
    await control.configure(answer_delay_ms=3000)
    with pytest.raises(openai.APITimeoutError):
        await client.with_options(timeout=0.5).files.create(
            file=("late.jsonl", b"{}\n", "application/jsonl"), purpose="fine-tune"
        )
    await control.configure(answer_delay_ms=0)
    names = [f.filename for f in (await client.files.list()).data]
    assert names == ["late.jsonl"]


async def test_faults_reproduce_with_a_seed(start_emulator: StartEmulator) -> None:
    async def pattern() -> list[int]:
        async with (
            start_emulator(seed=42, error_rate=0.5) as emulator,
            openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as sdk,
        ):
            codes = []
            for _ in range(16):
                try:
                    await sdk.models.list()
                    codes.append(200)
                except openai.InternalServerError as exc:
                    codes.append(exc.status_code)
            return codes

    first, second = await pattern(), await pattern()
    assert first == second
    assert 200 in first
    assert any(c >= 500 for c in first)


async def test_stats_count_by_route_template_and_status(
    emulator: Emulator, client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    await control.reset_stats()
    await client.models.list()
    await client.models.retrieve("gpt-4o")
    await client.models.retrieve("gpt-4.1")
    with pytest.raises(openai.NotFoundError):
        await client.fine_tuning.jobs.retrieve("ftjob-nope")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{emulator.base_url}/files") as response,
    ):
        assert response.status == 401
    stats = await control.stats()
    assert stats["requests"] == {
        "GET /v1/models": 1,
        "GET /v1/models/{id}": 2,
        "GET /v1/fine_tuning/jobs/{id}": 1,
        "GET /v1/files": 1,
    }
    assert stats["statuses"] == {"200": 3, "404": 1, "401": 1}
    assert stats["total"] == 5
    cleared = await control.reset_stats()
    assert cleared == {
        "requests": {},
        "statuses": {},
        "total": 0,
        "chat_repeats": {},
        "chat_uncounted": 0,
    }


async def test_stats_count_each_chat_body_however_it_was_answered(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    """A request sent three times (two of them answered by faults) shows as one body sent thrice."""
    await control.reset_stats()
    messages: list[Any] = [{"role": "user", "content": "Where is my parcel?"}]
    await control.configure(error_rate=1.0)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="gpt-4o", messages=messages)
    await control.configure(error_rate=0.0)
    await client.chat.completions.create(model="gpt-4o", messages=messages)
    await client.chat.completions.create(model="gpt-4.1", messages=messages)
    stats = await control.stats()
    assert stats["requests"]["POST /v1/chat/completions"] == 4
    assert stats["chat_repeats"] == {"1": 1, "3": 1}
    assert stats["chat_uncounted"] == 0
    assert "chat_bodies" not in stats
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{control.root_url}/_emulator/stats?chat_bodies=1") as response,
    ):
        bodies = (await response.json())["chat_bodies"]
    assert sorted(bodies.values()) == [1, 3]
    assert all(len(key) == 16 for key in bodies)  # 8-byte digests, in hex


async def test_unknown_routes_answer_json_404(emulator: Emulator) -> None:
    headers = {"Authorization": "Bearer k"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(f"{emulator.base_url}/nothing/here") as response,
    ):
        assert response.status == 404
        body = await response.json()
        assert body["error"]["message"] == "Invalid URL (GET /v1/nothing/here)"


async def test_refuse_keys_answers_401_invalid_api_key_with_the_key_masked(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    await control.configure(refuse_keys=True)
    with pytest.raises(openai.AuthenticationError) as caught:
        await client.models.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert caught.value.type == "invalid_request_error"
    message = caught.value.message
    assert "Incorrect API key provided: " in message
    assert client.api_key not in message
    await control.configure(refuse_keys=False)
    assert (await client.models.list()).data
