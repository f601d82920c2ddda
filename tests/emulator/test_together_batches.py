"""The Together flavour's batch routes: a job from upload to output through the shared engine,
every answer checked against Together's OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from ftd.emulator.together.batches import MAX_INPUT_BYTES as TOGETHER_MAX_INPUT_BYTES
from tests.emulator import together_schemas
from tests.emulator.helpers import FakeClock
from tests.emulator.together_support import LLAMA_8B, Answer, Together, together_emulator

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not together_schemas.available(), reason="the Together spec is not present"),
]


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[Together]:
    async with together_emulator(clock=clock, batch_seconds=60) as emulator:
        client = Together(emulator)
        yield client
        await client.close()
        assert client.checked > 0
        assert client.problems == [], "\n".join(client.problems)


def requests(count: int) -> bytes:
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": LLAMA_8B, "messages": [{"role": "user", "content": f"fact {i}"}]},
        }
        for i in range(count)
    ]
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


async def upload(api: Together, content: bytes, purpose: str = "batch-api") -> str:
    form = aiohttp.FormData()
    form.add_field("purpose", purpose)
    form.add_field("file_name", "ftd-e1-t-0.jsonl")
    form.add_field("file", content, filename="ftd-e1-t-0.jsonl")
    answer = await api.call("POST", "/files/upload", data=form)
    assert answer.status == 200, answer.body
    return str(answer.body["id"])


async def job(api: Together, batch_id: str) -> Answer:
    return await api.call("GET", "/batches/{id}", f"/batches/{batch_id}")


async def test_a_batch_runs_to_completed_with_its_output_file(
    api: Together, clock: FakeClock
) -> None:
    file_id = await upload(api, requests(3))
    created = await api.call(
        "POST", "/batches", json={"endpoint": "/v1/chat/completions", "input_file_id": file_id}
    )
    assert created.status == 201
    batch: dict[str, Any] = created.body["job"]
    assert (batch["status"], batch["input_file_id"], batch["progress"]) == (
        "VALIDATING",
        file_id,
        0.0,
    )
    seen = [batch["status"]]
    for _ in range(400):
        clock.advance(1.0)
        batch = (await job(api, batch["id"])).body
        if batch["status"] != seen[-1]:
            seen.append(batch["status"])
        if batch["status"] == "COMPLETED":
            break
    assert seen == ["VALIDATING", "IN_PROGRESS", "COMPLETED"]
    assert batch["progress"] == 100.0
    assert batch["model_id"] == LLAMA_8B
    assert "completed_at" in batch
    assert "error_file_id" not in batch
    listed = await api.call("GET", "/batches")
    assert [b["id"] for b in listed.body] == [batch["id"]]
    output = batch["output_file_id"]
    described = await api.call("GET", "/files/{id}", f"/files/{output}")
    assert described.body["purpose"] == "batch-generated"
    content = await api.call("GET", "/files/{id}/content", f"/files/{output}/content")
    lines = [orjson.loads(line) for line in content.body.splitlines()]
    assert sorted(line["custom_id"] for line in lines) == ["r0", "r1", "r2"]
    assert all(line["response"]["status_code"] == 200 for line in lines)
    assert lines[0]["response"]["body"]["model"] == LLAMA_8B
    refused = await api.call("POST", "/batches/{id}/cancel", f"/batches/{batch['id']}/cancel")
    assert refused.status == 400
    assert "completed" in refused.body["error"]


async def test_cancel_refusals_and_purposes(api: Together, clock: FakeClock) -> None:
    file_id = await upload(api, requests(2))
    created = await api.call(
        "POST", "/batches", json={"endpoint": "/v1/chat/completions", "input_file_id": file_id}
    )
    batch_id = created.body["job"]["id"]
    cancelled = await api.call("POST", "/batches/{id}/cancel", f"/batches/{batch_id}/cancel")
    assert cancelled.status == 200
    for _ in range(200):
        clock.advance(1.0)
        if (await job(api, batch_id)).body["status"] == "CANCELLED":
            break
    assert (await job(api, batch_id)).body["status"] == "CANCELLED"
    missing = await job(api, "batch_absent")
    assert missing.status == 404
    assert "batch_absent" in missing.body["error"]
    tuning = await upload(api, requests(1), purpose="fine-tune")
    wrong = await api.call(
        "POST", "/batches", json={"endpoint": "/v1/chat/completions", "input_file_id": tuning}
    )
    assert wrong.status == 400
    assert "batch-api" in wrong.body["error"]
    no_file = await api.call("POST", "/batches", json={"endpoint": "/v1/chat/completions"})
    assert no_file.status == 400
    assert "input_file_id" in no_file.body["error"]


async def test_an_input_file_over_togethers_100_mb_is_refused(
    api: Together, tmp_path: Path
) -> None:
    # Together's ceiling is half OpenAI's 200 MB: a file just over it is refused at creation.
    big = tmp_path / "big.jsonl"
    with big.open("wb") as out:
        out.truncate(TOGETHER_MAX_INPUT_BYTES + 1)
    with big.open("rb") as handle:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch-api")
        form.add_field("file_name", "ftd-e1-t-1.jsonl")
        form.add_field("file", handle, filename="ftd-e1-t-1.jsonl")
        uploaded = await api.call("POST", "/files/upload", data=form)
    assert uploaded.status == 200, uploaded.body
    refused = await api.call(
        "POST",
        "/batches",
        json={"endpoint": "/v1/chat/completions", "input_file_id": uploaded.body["id"]},
    )
    assert refused.status == 400
    assert f"over the limit of {TOGETHER_MAX_INPUT_BYTES}" in refused.body["error"]
    assert TOGETHER_MAX_INPUT_BYTES == 100 * 1024 * 1024
