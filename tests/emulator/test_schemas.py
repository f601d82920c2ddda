"""Every route's raw JSON validates against the schema the official spec declares for it."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.emulator import openapi_schemas
from tests.emulator.helpers import (
    STRING_CHECK_GRADER,
    FakeClock,
    chat_dataset,
    dpo_dataset,
    finish,
    rft_dataset,
)
from tests.emulator.openapi_schemas import OpenApiSchemas

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="session")
def schemas() -> OpenApiSchemas:
    if not openapi_schemas.SPEC_PATH.exists():
        pytest.skip(f"the OpenAPI spec is not at {openapi_schemas.SPEC_PATH}")
    loaded = openapi_schemas.load()
    openapi_schemas.admit_real_service_extensions(loaded)
    return loaded


class Answers:
    """Raw answers collected per route, checked together at the end."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, Any]] = []

    def add(self, method: str, path: str, raw: Any) -> Any:
        body = json.loads(raw.content)
        self.items.append((method, path, body))
        return body


async def test_all_routes_match_the_spec(
    client: openai.AsyncOpenAI, clock: FakeClock, schemas: OpenApiSchemas
) -> None:
    answers = Answers()
    files, jobs, uploads = client.files, client.fine_tuning.jobs, client.uploads
    training = answers.add(
        "POST",
        "/files",
        await files.with_raw_response.create(
            file=("t.jsonl", chat_dataset(12), "application/jsonl"), purpose="fine-tune"
        ),
    )["id"]
    validation = (
        await files.create(file=("v.jsonl", chat_dataset(10), "text/jsonl"), purpose="fine-tune")
    ).id
    answers.add("GET", "/files", await files.with_raw_response.list())
    answers.add("GET", "/files", await files.with_raw_response.list(purpose="batch"))
    answers.add("GET", "/files/{file_id}", await files.with_raw_response.retrieve(training))

    upload = answers.add(
        "POST",
        "/uploads",
        await uploads.with_raw_response.create(
            bytes=3, filename="u.jsonl", mime_type="text/jsonl", purpose="fine-tune"
        ),
    )
    part = answers.add(
        "POST",
        "/uploads/{upload_id}/parts",
        await uploads.parts.with_raw_response.create(upload_id=upload["id"], data=b"abc"),
    )
    done = answers.add(
        "POST",
        "/uploads/{upload_id}/complete",
        await uploads.with_raw_response.complete(upload_id=upload["id"], part_ids=[part["id"]]),
    )
    spare = await uploads.create(
        bytes=3, filename="c.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    answers.add(
        "POST", "/uploads/{upload_id}/cancel", await uploads.with_raw_response.cancel(spare.id)
    )
    answers.add(
        "DELETE", "/files/{file_id}", await files.with_raw_response.delete(done["file"]["id"])
    )

    job = answers.add(
        "POST",
        "/fine_tuning/jobs",
        await jobs.with_raw_response.create(
            model="gpt-4.1-mini-2025-04-14",
            training_file=training,
            validation_file=validation,
            suffix="spec",
            metadata={"k": "v"},
            integrations=[{"type": "wandb", "wandb": {"project": "p", "tags": ["t"]}}],
        ),
    )
    dpo = await jobs.create(
        model="gpt-4o-2024-08-06",
        training_file=(
            await files.create(file=("d.jsonl", dpo_dataset(10), "text/jsonl"), purpose="fine-tune")
        ).id,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
    )
    rft = await jobs.create(
        model="o4-mini-2025-04-16",
        training_file=(
            await files.create(file=("r.jsonl", rft_dataset(10), "text/jsonl"), purpose="fine-tune")
        ).id,
        method={"type": "reinforcement", "reinforcement": {"grader": STRING_CHECK_GRADER}},
    )
    bad = await jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=(
            await files.create(file=("b.jsonl", chat_dataset(3), "text/jsonl"), purpose="fine-tune")
        ).id,
    )
    answers.add(
        "POST",
        "/fine_tuning/jobs/{fine_tuning_job_id}/pause",
        await jobs.with_raw_response.pause(dpo.id),
    )
    answers.add(
        "GET",
        "/fine_tuning/jobs/{fine_tuning_job_id}",
        await jobs.with_raw_response.retrieve(dpo.id),
    )
    answers.add(
        "POST",
        "/fine_tuning/jobs/{fine_tuning_job_id}/resume",
        await jobs.with_raw_response.resume(dpo.id),
    )
    for _ in range(2):
        clock.advance(1.5)
        answers.add(
            "GET",
            "/fine_tuning/jobs/{fine_tuning_job_id}",
            await jobs.with_raw_response.retrieve(job["id"]),
        )
    for job_id in (job["id"], dpo.id, rft.id, bad.id):
        await finish(client, clock, job_id)
        answers.add(
            "GET",
            "/fine_tuning/jobs/{fine_tuning_job_id}",
            await jobs.with_raw_response.retrieve(job_id),
        )
    victim = await jobs.create(model="gpt-4.1-mini-2025-04-14", training_file=training)
    answers.add(
        "POST",
        "/fine_tuning/jobs/{fine_tuning_job_id}/cancel",
        await jobs.with_raw_response.cancel(victim.id),
    )
    answers.add("GET", "/fine_tuning/jobs", await jobs.with_raw_response.list(limit=3))
    answers.add("GET", "/fine_tuning/jobs", await jobs.with_raw_response.list(metadata={"k": "v"}))
    for job_id in (job["id"], bad.id, rft.id):
        answers.add(
            "GET",
            "/fine_tuning/jobs/{fine_tuning_job_id}/events",
            await jobs.with_raw_response.list_events(job_id, limit=100),
        )
    checkpoints = answers.add(
        "GET",
        "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints",
        await jobs.checkpoints.with_raw_response.list(job["id"]),
    )
    answers.add(
        "GET",
        "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints",
        await jobs.checkpoints.with_raw_response.list(bad.id),
    )

    model = checkpoints["data"][0]["fine_tuned_model_checkpoint"]
    answers.add("GET", "/models", await client.models.with_raw_response.list())
    answers.add("GET", "/models/{model}", await client.models.with_raw_response.retrieve("gpt-4o"))
    answers.add("GET", "/models/{model}", await client.models.with_raw_response.retrieve(model))
    chat = client.chat.completions.with_raw_response
    answers.add(
        "POST",
        "/chat/completions",
        await chat.create(model=model, messages=[{"role": "user", "content": "What is 3 plus 3?"}]),
    )
    answers.add(
        "POST",
        "/chat/completions",
        await chat.create(
            model="gpt-4.1",
            messages=[
                {"role": "user", "content": "<reference>a b</reference><candidate>a</candidate>"}
            ],
            response_format={"type": "json_object"},
        ),
    )
    answers.add("DELETE", "/models/{model}", await client.models.with_raw_response.delete(model))

    failures = []
    for method, path, body in answers.items:
        problems = schemas.errors(schemas.response_schema(method, path), body)
        failures += [f"{method} {path}: {p}" for p in problems]
    assert not failures, "\n".join(failures)
    statuses = {b["status"] for _m, _p, b in answers.items if b.get("object") == "fine_tuning.job"}
    assert {"validating_files", "paused", "queued", "running", "succeeded", "failed"} <= statuses


async def test_file_content_and_errors_match_the_spec(
    client: openai.AsyncOpenAI, schemas: OpenApiSchemas
) -> None:
    created = await client.files.create(
        file=("t.jsonl", chat_dataset(2), "text/jsonl"), purpose="fine-tune"
    )
    content = await client.files.with_raw_response.content(created.id)
    assert not schemas.errors(
        schemas.response_schema("GET", "/files/{file_id}/content"), content.text
    )
    error_schema = {"$ref": "#/components/schemas/ErrorResponse"}
    for call in (
        client.files.retrieve("file-missing"),
        client.fine_tuning.jobs.retrieve("ftjob-missing"),
        client.models.retrieve("ft:nothing"),
        client.fine_tuning.jobs.create(model="gpt-4.1", training_file=created.id, seed=-5),
    ):
        with pytest.raises(openai.APIStatusError) as caught:
            await call
        assert not schemas.errors(error_schema, caught.value.response.json())


def test_the_checker_rejects_wrong_shapes(schemas: OpenApiSchemas) -> None:
    job_schema = schemas.response_schema("GET", "/fine_tuning/jobs/{fine_tuning_job_id}")
    assert schemas.errors(job_schema, {"id": "ftjob-x", "status": "bogus"})
    page = schemas.response_schema("GET", "/files")
    broken_file = {"id": "file-x", "object": "file", "bytes": "many"}
    problems = schemas.errors(page, {"object": "list", "data": [broken_file], "has_more": False})
    assert any("data/0" in p for p in problems)
    nullable = schemas.component("Upload")["properties"]["file"]
    assert not schemas.errors(nullable, None)
