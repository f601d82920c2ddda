"""Uploads API: parts joined in the given order, size and md5 checks, cancel, expiry."""

from __future__ import annotations

import hashlib

import openai
import pytest

from ftd.emulator.control import EmulatorControl
from tests.emulator.helpers import FakeClock, chat_dataset

pytestmark = pytest.mark.anyio


async def test_upload_file_chunked_makes_a_normal_file(client: openai.AsyncOpenAI) -> None:
    content = chat_dataset(40)
    upload = await client.uploads.upload_file_chunked(
        file=content,
        filename="big.jsonl",
        bytes=len(content),
        mime_type="text/jsonl",
        purpose="fine-tune",
        part_size=1000,
        md5=hashlib.md5(content, usedforsecurity=False).hexdigest(),
    )
    assert upload.status == "completed"
    assert upload.file is not None
    assert (upload.file.filename, upload.file.bytes) == ("big.jsonl", len(content))
    assert (await client.files.content(upload.file.id)).content == content


async def test_parts_are_joined_in_the_order_given(client: openai.AsyncOpenAI) -> None:
    upload = await client.uploads.create(
        bytes=6, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    assert upload.status == "pending"
    assert upload.expires_at == upload.created_at + 3600
    second = await client.uploads.parts.create(upload_id=upload.id, data=b"def")
    first = await client.uploads.parts.create(upload_id=upload.id, data=b"abc")
    assert (first.object, first.upload_id) == ("upload.part", upload.id)
    done = await client.uploads.complete(upload_id=upload.id, part_ids=[first.id, second.id])
    assert done.file is not None
    assert (await client.files.content(done.file.id)).content == b"abcdef"
    with pytest.raises(openai.BadRequestError):
        await client.uploads.parts.create(upload_id=upload.id, data=b"more")


async def test_md5_and_size_mismatches_are_refused(client: openai.AsyncOpenAI) -> None:
    upload = await client.uploads.create(
        bytes=3, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = await client.uploads.parts.create(upload_id=upload.id, data=b"abc")
    with pytest.raises(openai.BadRequestError) as caught:
        await client.uploads.complete(upload_id=upload.id, part_ids=[part.id], md5="0" * 32)
    assert caught.value.param == "md5"
    extra = await client.uploads.parts.create(upload_id=upload.id, data=b"d")
    with pytest.raises(openai.BadRequestError) as caught:
        await client.uploads.complete(upload_id=upload.id, part_ids=[part.id, extra.id])
    assert "(4)" in caught.value.message
    assert "(3)" in caught.value.message
    done = await client.uploads.complete(
        upload_id=upload.id,
        part_ids=[part.id],
        md5=hashlib.md5(b"abc", usedforsecurity=False).hexdigest(),
    )
    assert done.status == "completed"


async def test_cancel_and_expiry(client: openai.AsyncOpenAI, clock: FakeClock) -> None:
    upload = await client.uploads.create(
        bytes=3, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    cancelled = await client.uploads.cancel(upload.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        await client.uploads.cancel(upload.id)
    later = await client.uploads.create(
        bytes=3, filename="y.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = await client.uploads.parts.create(upload_id=later.id, data=b"abc")
    clock.advance(3601)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.uploads.parts.create(upload_id=later.id, data=b"abc")
    assert "expired" in caught.value.message
    with pytest.raises(openai.BadRequestError):
        await client.uploads.complete(upload_id=later.id, part_ids=[part.id])
    with pytest.raises(openai.NotFoundError):
        await client.uploads.cancel("upload_missing")


async def test_upload_purpose_and_extension_rules(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.uploads.create(
            bytes=3, filename="x.csv", mime_type="text/csv", purpose="fine-tune"
        )
    assert caught.value.param == "file"


async def test_parts_over_the_cap_are_refused(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    await control.configure(max_part_bytes=4)
    upload = await client.uploads.create(
        bytes=8, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    with pytest.raises(openai.APIStatusError) as caught:
        await client.uploads.parts.create(upload_id=upload.id, data=b"123456")
    assert caught.value.status_code == 413
    first = await client.uploads.parts.create(upload_id=upload.id, data=b"1234")
    second = await client.uploads.parts.create(upload_id=upload.id, data=b"5678")
    done = await client.uploads.complete(upload_id=upload.id, part_ids=[first.id, second.id])
    assert done.bytes == 8
