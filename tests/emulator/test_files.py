"""Files API: create, list with paging and order, retrieve, content, delete, limits; and auth."""

from __future__ import annotations

import json

import aiohttp
import openai
import pytest

from ftd.emulator.control import EmulatorControl
from ftd.emulator.server import Emulator
from tests.emulator.helpers import FakeClock, chat_dataset, upload

pytestmark = pytest.mark.anyio


async def test_requests_without_a_bearer_key_get_401(emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{emulator.base_url}/files") as response:
            assert response.status == 401
            body = await response.json()
            assert set(body["error"]) == {"message", "type", "param", "code"}
            assert "API key" in body["error"]["message"]
            assert response.headers["x-request-id"].startswith("req_")
        headers = {"Authorization": "Bearer "}
        async with session.get(f"{emulator.base_url}/models", headers=headers) as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "invalid_api_key"


async def test_sdk_with_a_wrong_scheme_raises_authentication_error(emulator: Emulator) -> None:
    async with openai.AsyncOpenAI(
        base_url=emulator.base_url,
        api_key="ignored",
        max_retries=0,
        default_headers={"Authorization": "Basic abc"},
    ) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.models.list()
    assert caught.value.code == "invalid_api_key"


async def test_file_round_trip(client: openai.AsyncOpenAI) -> None:
    content = chat_dataset(12)
    created = await client.files.create(
        file=("ftd-abc-train.jsonl", content, "application/jsonl"), purpose="fine-tune"
    )
    assert created.id.startswith("file-")
    assert (created.filename, created.bytes, created.purpose) == (
        "ftd-abc-train.jsonl",
        len(content),
        "fine-tune",
    )
    assert created.status == "processed"
    fetched = await client.files.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()
    assert (await client.files.content(created.id)).content == content
    deleted = await client.files.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "file")
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.files.delete(created.id)


async def test_fine_tune_files_must_be_jsonl(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.files.create(file=("data.csv", b"a,b\n", "text/csv"), purpose="fine-tune")
    assert "Must be .jsonl" in caught.value.message
    batch = await client.files.create(
        file=("notes.txt", b"hello", "text/plain"), purpose="user_data"
    )
    assert batch.purpose == "user_data"


async def test_unknown_purpose_is_rejected(emulator: Emulator) -> None:
    form = aiohttp.FormData()
    form.add_field("purpose", "pictures")
    form.add_field("file", b"{}", filename="x.jsonl")
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer k"}) as session,
        session.post(f"{emulator.base_url}/files", data=form) as response,
    ):
        assert response.status == 400
        assert (await response.json())["error"]["param"] == "purpose"


async def test_size_cap_refuses_big_files(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    await control.configure(max_file_bytes=1000)
    with pytest.raises(openai.APIStatusError) as caught:
        await client.files.create(
            file=("big.jsonl", b"x" * 1500, "application/jsonl"), purpose="fine-tune"
        )
    assert caught.value.status_code == 413
    assert "1500 bytes" in caught.value.message
    assert "1000" in caught.value.message
    small = await client.files.create(
        file=("ok.jsonl", b"x" * 1000, "application/jsonl"), purpose="fine-tune"
    )
    assert small.bytes == 1000
    listed = [f.id async for f in client.files.list()]
    assert listed == [small.id]


async def test_listing_orders_pages_and_filters(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    ids = []
    for i in range(5):
        ids.append(await upload(client, chat_dataset(1), f"f{i}.jsonl"))
        clock.advance(1)
    other = await client.files.create(file=("n.txt", b"n", "text/plain"), purpose="user_data")
    newest_first = await client.files.list(purpose="fine-tune")
    assert [f.id for f in newest_first.data] == ids[::-1]
    raw = await client.files.with_raw_response.list(purpose="fine-tune", limit=2, order="asc")
    page = json.loads(raw.content)
    assert [f["id"] for f in page["data"]] == ids[:2]
    assert page["has_more"] is True
    assert (page["first_id"], page["last_id"]) == (ids[0], ids[1])
    rest = await client.files.list(purpose="fine-tune", limit=2, order="asc", after=ids[1])
    assert [f.id for f in rest.data] == ids[2:4]
    walked = [f.id async for f in client.files.list(purpose="fine-tune", limit=2, order="asc")]
    assert walked == ids
    everything = [f.id async for f in client.files.list()]
    assert everything[0] == other.id
    assert len(everything) == 6
    with pytest.raises(openai.BadRequestError) as caught:
        await client.files.list(limit=10_001)
    assert caught.value.param == "limit"


async def test_files_expire_when_asked(client: openai.AsyncOpenAI, clock: FakeClock) -> None:
    created = await client.files.create(
        file=("e.jsonl", b"{}", "application/jsonl"),
        purpose="fine-tune",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert created.expires_at == created.created_at + 3600
    clock.advance(3601)
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.files.create(
            file=("e.jsonl", b"{}", "application/jsonl"),
            purpose="fine-tune",
            expires_after={"anchor": "created_at", "seconds": 60},
        )
    assert caught.value.param == "expires_after.seconds"
