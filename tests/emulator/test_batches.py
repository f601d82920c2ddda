"""``/v1/batches``: the lifecycle on the emulator's clock, output and error files, the knobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from ftd.emulator import batches
from ftd.emulator.control import EmulatorControl
from tests.emulator import openapi_schemas
from tests.emulator.conftest import StartEmulator
from tests.emulator.helpers import FakeClock
from tests.emulator.openapi_schemas import OpenApiSchemas

pytestmark = pytest.mark.anyio

_NULLABLE_BATCH_FIELDS = (
    "model",
    "errors",
    "output_file_id",
    "error_file_id",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
    "usage",
)


@pytest.fixture(scope="module")
def schemas() -> OpenApiSchemas:
    if not openapi_schemas.SPEC_PATH.exists():
        pytest.skip(f"the OpenAPI spec is not at {openapi_schemas.SPEC_PATH}")
    loaded = openapi_schemas.load()
    # The real service sends null for a batch's fields that have no value yet, as the
    # spec's own example of the batch object does ("failed_at": null), though the
    # schema does not mark them nullable.
    batch = loaded.component("Batch")
    for name in _NULLABLE_BATCH_FIELDS:
        prop = batch["properties"][name]
        if {"type": "null"} not in prop.get("anyOf", []):
            batch["properties"][name] = {"anyOf": [prop, {"type": "null"}]}
    return loaded


def requests_file(n: int, model: str = "gpt-4o-mini-2024-07-18") -> bytes:
    lines = [
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": f"Question {i}?"}]},
        }
        for i in range(n)
    ]
    return ("\n".join(json.dumps(line) for line in lines) + "\n").encode()


async def create(client: openai.AsyncOpenAI, data: bytes, **extra: Any) -> dict[str, Any]:
    file = await client.files.create(file=("requests.jsonl", data), purpose="batch")
    raw = await client.batches.with_raw_response.create(
        input_file_id=file.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        **extra,
    )
    body: dict[str, Any] = json.loads(raw.content)
    return body


async def retrieve(client: openai.AsyncOpenAI, batch_id: str) -> dict[str, Any]:
    raw = await client.batches.with_raw_response.retrieve(batch_id)
    body: dict[str, Any] = json.loads(raw.content)
    return body


async def lines_of(client: openai.AsyncOpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    content = await client.files.content(file_id)
    return [json.loads(line) for line in content.content.splitlines() if line.strip()]


def check(schemas: OpenApiSchemas, body: dict[str, Any], component: str = "Batch") -> None:
    errors = schemas.errors({"$ref": f"#/components/schemas/{component}"}, body)
    assert errors == [], errors


async def test_a_batch_runs_to_completion_and_answers_like_the_live_route(
    client: openai.AsyncOpenAI, clock: FakeClock, schemas: OpenApiSchemas
) -> None:
    created = await create(client, requests_file(5), metadata={"ftd": "eval-1-s0-b0"})
    check(schemas, created)
    assert created["status"] == "validating"
    assert created["metadata"] == {"ftd": "eval-1-s0-b0"}
    assert created["request_counts"] == {"total": 5, "completed": 0, "failed": 0}

    clock.advance(batches.VALIDATE_S + 1)
    running = await retrieve(client, created["id"])
    check(schemas, running)
    assert running["status"] == "in_progress"
    assert running["in_progress_at"] is not None

    clock.advance(120)
    finalizing = await retrieve(client, created["id"])
    assert finalizing["status"] == "finalizing"
    assert finalizing["output_file_id"] is None

    clock.advance(batches.FINALIZE_S)
    done = await retrieve(client, created["id"])
    check(schemas, done)
    assert done["status"] == "completed"
    assert done["request_counts"] == {"total": 5, "completed": 5, "failed": 0}
    assert done["error_file_id"] is None
    assert done["usage"]["input_tokens"] > 0
    output = await lines_of(client, done["output_file_id"])
    assert sorted(line["custom_id"] for line in output) == [f"req-{i}" for i in range(5)]
    first = next(line for line in output if line["custom_id"] == "req-0")
    live = await client.chat.completions.create(
        model="gpt-4o-mini-2024-07-18", messages=[{"role": "user", "content": "Question 0?"}]
    )
    assert first["response"]["status_code"] == 200
    answer = first["response"]["body"]
    check(schemas, answer, "CreateChatCompletionResponse")
    assert answer["choices"][0]["message"]["content"] == live.choices[0].message.content
    output_file = await client.files.retrieve(done["output_file_id"])
    assert output_file.purpose == "batch_output"

    # A second look changes nothing: the files are written once.
    again = await retrieve(client, created["id"])
    assert again["output_file_id"] == done["output_file_id"]

    listed = json.loads((await client.batches.with_raw_response.list(limit=10)).content)
    check(schemas, listed, "ListBatchesResponse")
    assert [b["id"] for b in listed["data"]] == [created["id"]]
    assert listed["data"][0]["metadata"] == {"ftd": "eval-1-s0-b0"}


async def test_partial_failures_and_expiry_on_demand(
    client: openai.AsyncOpenAI, clock: FakeClock, control: EmulatorControl, schemas: OpenApiSchemas
) -> None:
    await control.configure(batch_request_failure_rate=0.5)
    partial = await create(client, requests_file(20))
    await control.configure(batch_request_failure_rate=0.0, batch_expire_rate=1.0)
    expiring = await create(client, requests_file(10))
    clock.advance(batches.VALIDATE_S + 120 + batches.FINALIZE_S + 1)

    done = await retrieve(client, partial["id"])
    check(schemas, done)
    counts = done["request_counts"]
    assert done["status"] == "completed"
    assert 0 < counts["failed"] < 20
    assert counts["completed"] + counts["failed"] == 20
    failed = await lines_of(client, done["error_file_id"])
    assert len(failed) == counts["failed"]
    assert all(line["response"]["status_code"] == 500 for line in failed)
    answered = await lines_of(client, done["output_file_id"])
    assert {line["custom_id"] for line in answered}.isdisjoint(line["custom_id"] for line in failed)

    expired = await retrieve(client, expiring["id"])
    check(schemas, expired)
    assert expired["status"] == "expired"
    assert expired["expired_at"] is not None
    assert expired["request_counts"]["completed"] == 5
    unfinished = await lines_of(client, expired["error_file_id"])
    assert len(unfinished) == 5
    assert {line["error"]["code"] for line in unfinished} == {"batch_expired"}
    assert len(await lines_of(client, expired["output_file_id"])) == 5


async def test_cancel_and_refusals(
    client: openai.AsyncOpenAI, clock: FakeClock, schemas: OpenApiSchemas
) -> None:
    created = await create(client, requests_file(4))
    clock.advance(batches.VALIDATE_S + 60)
    raw = await client.batches.with_raw_response.cancel(created["id"])
    cancelling = json.loads(raw.content)
    check(schemas, cancelling)
    assert cancelling["status"] == "cancelling"
    clock.advance(batches.CANCEL_S + 1)
    cancelled = await retrieve(client, created["id"])
    check(schemas, cancelled)
    assert cancelled["status"] == "cancelled"
    total = cancelled["request_counts"]
    unrun = await lines_of(client, cancelled["error_file_id"])
    assert len(unrun) + total["completed"] == 4
    with pytest.raises(openai.APIStatusError) as refused:
        await client.batches.cancel(created["id"])
    assert refused.value.status_code == 409

    fine_tune = await client.files.create(file=("t.jsonl", requests_file(2)), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="purpose 'batch'"):
        await client.batches.create(
            input_file_id=fine_tune.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    with pytest.raises(openai.NotFoundError):
        await client.batches.retrieve("batch_missing")


async def test_a_bad_input_file_fails_validation_with_line_errors(
    client: openai.AsyncOpenAI, clock: FakeClock, schemas: OpenApiSchemas
) -> None:
    mixed = requests_file(2) + requests_file(1, model="gpt-4.1-mini-2025-04-14") + b"{oops\n"
    created = await create(client, mixed)
    clock.advance(batches.VALIDATE_S + 1)
    failed = await retrieve(client, created["id"])
    check(schemas, failed)
    assert failed["status"] == "failed"
    assert failed["failed_at"] is not None
    codes = {(e["code"], e["line"]) for e in failed["errors"]["data"]}
    assert ("mismatched_model", 3) in codes
    assert ("invalid_json_line", 4) in codes
    # the duplicate custom_id of the third line (req-0 again) is named too
    assert ("duplicate_custom_id", 3) in codes


async def test_a_batch_survives_a_restart_of_a_persistent_emulator(
    start_emulator: StartEmulator, clock: FakeClock, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    async with start_emulator(clock=clock, state_path=state) as first:  # noqa: SIM117
        async with openai.AsyncOpenAI(base_url=first.base_url, api_key="k", max_retries=0) as c:
            created = await create(c, requests_file(3), metadata={"ftd_batch": "t"})
    clock.advance(batches.VALIDATE_S + 120 + batches.FINALIZE_S + 1)
    async with start_emulator(clock=clock, state_path=state) as second:  # noqa: SIM117
        async with openai.AsyncOpenAI(base_url=second.base_url, api_key="k", max_retries=0) as c:
            done = await retrieve(c, created["id"])
            assert done["status"] == "completed"
            assert done["metadata"] == {"ftd_batch": "t"}
            assert len(await lines_of(c, done["output_file_id"])) == 3
