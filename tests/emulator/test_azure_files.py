"""File upload on the Azure flavour: ``expires_after`` as each spec spells it, purposes, life."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest

from tests.emulator.azure_support import (
    API_VERSION,
    EXPIRES,
    KEY,
    azure_emulator,
    v1_client,
    versioned_client,
)
from tests.emulator.helpers import chat_dataset

pytestmark = pytest.mark.anyio


async def _post_form(url: str, fields: dict[str, str], json_part: dict[str, Any] | None) -> Any:
    form = aiohttp.FormData()
    form.add_field("purpose", "fine-tune")
    for name, value in fields.items():
        form.add_field(name, value)
    if json_part is not None:
        form.add_field("expires_after", json.dumps(json_part), content_type="application/json")
    form.add_field("file", chat_dataset(3), filename="t.jsonl", content_type="application/jsonl")
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=form, headers={"api-key": KEY}) as response,
    ):
        return response.status, await response.json()


async def test_v1_upload_requires_expires_after_in_any_spelling() -> None:
    async with azure_emulator() as emulator, v1_client(emulator) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.files.create(
                file=("t.jsonl", chat_dataset(3), "application/jsonl"), purpose="fine-tune"
            )
        assert caught.value.param == "expires_after"
        sdk = await client.files.create(
            file=("t.jsonl", chat_dataset(3), "application/jsonl"),
            purpose="fine-tune",
            expires_after=EXPIRES,
        )
        assert sdk.expires_at == sdk.created_at + EXPIRES["seconds"]
        url = f"{emulator.base_url}/files"
        status, as_json = await _post_form(url, {}, {"anchor": "created_at", "seconds": 2_592_000})
        assert status == 200, as_json
        assert as_json["expires_at"] - as_json["created_at"] == 2_592_000
        dotted = {"expires_after.anchor": "created_at", "expires_after.seconds": "1300000"}
        status, as_dotted = await _post_form(url, dotted, None)
        assert status == 200, as_dotted
        assert as_dotted["expires_at"] - as_dotted["created_at"] == 1_300_000
        status, too_short = await _post_form(url, {}, {"anchor": "created_at", "seconds": 3600})
        assert status == 400
        assert too_short["error"]["param"] == "expires_after.seconds"
        status, bad_anchor = await _post_form(url, {}, {"anchor": "now", "seconds": 1_300_000})
        assert status == 400
        assert bad_anchor["error"]["param"] == "expires_after.anchor"


async def test_versioned_upload_answers_201_and_may_omit_expiry() -> None:
    async with azure_emulator() as emulator, versioned_client(emulator) as client:
        raw = await client.files.with_raw_response.create(
            file=("t.jsonl", chat_dataset(3), "application/jsonl"), purpose="fine-tune"
        )
        assert raw.status_code == 201
        created = raw.parse()
        assert created.expires_at is None
        status, body = await _post_form(
            f"{emulator.root_url}/openai/files?api-version={API_VERSION}", {}, None
        )
        assert status == 201, body


async def test_purposes_and_the_files_life() -> None:
    async with azure_emulator() as emulator, v1_client(emulator) as client:
        files = client.files
        with pytest.raises(openai.BadRequestError) as caught:
            await files.create(
                file=("t.jsonl", b"{}\n", "application/jsonl"),
                purpose="vision",
                expires_after=EXPIRES,
            )
        assert caught.value.param == "purpose"
        with pytest.raises(openai.BadRequestError) as wrong_type:
            await files.create(
                file=("t.csv", b"a,b\n", "text/csv"), purpose="fine-tune", expires_after=EXPIRES
            )
        assert wrong_type.value.param == "file"
        content = chat_dataset(4)
        training = await files.create(
            file=("t.jsonl", content, "application/jsonl"),
            purpose="fine-tune",
            expires_after=EXPIRES,
        )
        batch = await files.create(
            file=("b.jsonl", b"{}\n", "application/jsonl"), purpose="batch", expires_after=EXPIRES
        )
        assert (await files.retrieve(training.id)).status == "processed"
        assert (await files.content(training.id)).content == content
        listed = await files.list(purpose="fine-tune")
        assert [f.id for f in listed.data] == [training.id]
        deleted = await files.delete(batch.id)
        assert deleted.deleted is True
        with pytest.raises(openai.NotFoundError):
            await files.retrieve(batch.id)
