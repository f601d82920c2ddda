"""Models and chat completions: fine-tuned vs base answers, the judge, structured outputs."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import openai
import pytest

from ftd.emulator.control import EmulatorControl
from tests.emulator.helpers import FakeClock, chat_example, finish, jsonl, support_examples, upload

pytestmark = pytest.mark.anyio
MODEL = "gpt-4.1-mini-2025-04-14"
RUBRIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "explanation": {"type": "string"},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["explanation", "score"],
    "additionalProperties": False,
}
PAIRWISE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "winner": {"type": "string", "enum": ["A", "B", "tie"]},
    },
    "required": ["reasoning", "winner"],
    "additionalProperties": False,
}


def schema_format(schema: dict[str, Any], name: str = "verdict") -> Any:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


async def ask(client: openai.AsyncOpenAI, model: str, prompt: str, **kwargs: Any) -> str:
    response = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], **kwargs
    )
    content: str | None = response.choices[0].message.content
    assert content is not None
    return content


async def rubric(client: openai.AsyncOpenAI, reference: str, candidate: str) -> int:
    prompt = (
        "Grade the candidate against the reference on a 1-5 scale.\n"
        f"<reference>{reference}</reference>\n<candidate>{candidate}</candidate>"
    )
    verdict = json.loads(
        await ask(client, "gpt-4.1", prompt, response_format=schema_format(RUBRIC_SCHEMA))
    )
    jsonschema.validate(verdict, RUBRIC_SCHEMA)
    score = verdict["score"]
    assert isinstance(score, int)
    return score


async def trained_model(
    client: openai.AsyncOpenAI, clock: FakeClock, records: list[dict[str, Any]]
) -> str:
    job = await client.fine_tuning.jobs.create(
        model=MODEL, training_file=await upload(client, jsonl(records)), suffix="support"
    )
    done = await finish(client, clock, job.id)
    assert done.fine_tuned_model is not None
    return done.fine_tuned_model


async def test_fine_tuned_model_beats_its_base_on_held_out_items(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    pairs = support_examples(40)
    train, held_out = pairs[:30], pairs[30:]
    model = await trained_model(client, clock, [chat_example(q, a) for q, a in train])
    tuned_scores, base_scores = [], []
    for question, reference in held_out:
        tuned_scores.append(await rubric(client, reference, await ask(client, model, question)))
        base_scores.append(await rubric(client, reference, await ask(client, MODEL, question)))
    assert sum(tuned_scores) / 10 >= 3.5
    assert sum(base_scores) / 10 <= 2.0
    assert all(t > b for t, b in zip(tuned_scores, base_scores, strict=True))


async def test_answers_are_deterministic_and_count_tokens(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    model = await trained_model(
        client, clock, [chat_example(q, a) for q, a in support_examples(12)]
    )
    question = "Where is my order 1001? The kettle has not arrived yet."
    first = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}]
    )
    second = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}]
    )
    assert first.choices[0].message.content == second.choices[0].message.content
    assert "in transit" in (first.choices[0].message.content or "")
    assert first.model == model
    assert first.id != second.id
    assert first.usage is not None
    assert first.usage.prompt_tokens > 10
    assert first.usage.completion_tokens > 10
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    short = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], max_completion_tokens=3
    )
    assert short.choices[0].finish_reason == "length"
    assert short.usage is not None
    assert short.usage.completion_tokens == 3
    checkpoints = await client.fine_tuning.jobs.checkpoints.list(
        (await client.fine_tuning.jobs.list()).data[0].id
    )
    earlier = checkpoints.data[-1].fine_tuned_model_checkpoint
    assert "ckpt-step" in earlier
    assert "in transit" in await ask(client, earlier, question)


async def test_base_model_answers_generically(client: openai.AsyncOpenAI) -> None:
    answer = await ask(client, "gpt-4o", "How do I reset the password of my router?")
    assert "password" in answer or "router" in answer or "reset" in answer
    assert answer == await ask(client, "gpt-4o", "How do I reset the password of my router?")
    with pytest.raises(openai.NotFoundError) as caught:
        await ask(client, "gpt-7-turbo", "hello")
    assert caught.value.code == "model_not_found"


async def test_rubric_judge_tracks_similarity(client: openai.AsyncOpenAI) -> None:
    reference = "Your refund for order 1234 was issued today and arrives within five business days."
    assert await rubric(client, reference, reference) == 5
    close = "The refund for order 1234 was issued today; it arrives within five days."
    assert await rubric(client, reference, close) >= 4
    assert await rubric(client, reference, "Bananas are yellow fruit.") == 1
    plain = json.loads(
        await ask(
            client, "gpt-4.1", f"<reference>{reference}</reference><candidate>{close}</candidate>"
        )
    )
    assert set(plain) == {"score", "explanation"}


async def test_pairwise_judge_ignores_position(client: openai.AsyncOpenAI) -> None:
    reference = "Click 'Forgot password' on the sign-in page and follow the emailed link."
    good = "Use the 'Forgot password' link on the sign-in page, then follow the link we email."
    bad = "Please contact support for help with your account."

    async def verdict(a: str, b: str) -> str:
        prompt = (
            f"Which answer is better?\n<reference>{reference}</reference>\n"
            f"<answer_a>{a}</answer_a>\n<answer_b>{b}</answer_b>"
        )
        body = json.loads(
            await ask(client, "gpt-4.1", prompt, response_format=schema_format(PAIRWISE_SCHEMA))
        )
        jsonschema.validate(body, PAIRWISE_SCHEMA)
        winner = body["winner"]
        assert isinstance(winner, str)
        return winner

    assert await verdict(good, bad) == "A"
    assert await verdict(bad, good) == "B"
    assert await verdict(good, good) == "tie"


SCHEMAS: list[dict[str, Any]] = [
    RUBRIC_SCHEMA,
    {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["spam", "ham"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3},
            "flagged": {"type": "boolean"},
            "note": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
        },
        "required": ["label", "confidence", "tags", "flagged", "note"],
        "additionalProperties": False,
    },
    {
        "$defs": {
            "step": {
                "type": "object",
                "properties": {
                    "order": {"type": "integer", "exclusiveMinimum": 0},
                    "text": {"type": "string"},
                },
                "required": ["order", "text"],
                "additionalProperties": False,
            }
        },
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}, "minItems": 1},
            "code": {"type": "string", "pattern": "^[A-Z][0-9]$"},
            "when": {"type": "string", "format": "date"},
            "count": {"type": "integer", "minimum": 10, "maximum": 20, "multipleOf": 5},
        },
        "required": ["steps", "code", "when", "count"],
        "additionalProperties": False,
    },
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=["rubric", "mixed", "refs"])
async def test_json_schema_answers_validate(
    client: openai.AsyncOpenAI, schema: dict[str, Any]
) -> None:
    for model in (MODEL, "o4-mini"):
        text = await ask(
            client, model, "Classify this message.", response_format=schema_format(schema)
        )
        jsonschema.validate(json.loads(text), schema)


async def test_json_object_answers_are_objects(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    text = await ask(client, MODEL, "Reply in JSON please", response_format={"type": "json_object"})
    assert isinstance(json.loads(text), dict)
    model = await trained_model(
        client,
        clock,
        [chat_example(f"json {i}", json.dumps({"id": i, "ok": True})) for i in range(10)],
    )
    assert json.loads(
        await ask(client, model, "json 3", response_format={"type": "json_object"})
    ) == {
        "id": 3,
        "ok": True,
    }


async def test_models_list_retrieve_delete_and_ready_delay(
    client: openai.AsyncOpenAI, clock: FakeClock, control: EmulatorControl
) -> None:
    listed = {m.id for m in (await client.models.list()).data}
    assert {
        "gpt-4.1-2025-04-14",
        "gpt-4o-2024-08-06",
        "o4-mini-2025-04-16",
        "gpt-4.1-mini",
    } <= listed
    base = await client.models.retrieve("gpt-4o-mini-2024-07-18")
    assert (base.object, base.owned_by) == ("model", "system")
    await control.configure(model_ready_delay=120)
    model = await trained_model(client, clock, [chat_example(f"q{i}", f"a{i}") for i in range(10)])
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve(model)
    with pytest.raises(openai.NotFoundError) as caught:
        await ask(client, model, "q1")
    assert caught.value.code == "model_not_found"
    assert model not in {m.id for m in (await client.models.list()).data}
    clock.advance(121)
    assert (await client.models.retrieve(model)).owned_by == "org-ftd-emulator"
    assert await ask(client, model, "q1") == "a1"
    listed = {m.id for m in (await client.models.list()).data}
    assert model in listed
    # Checkpoints are snapshots with their own 8-character id, as real ones are.
    prefix = re.escape(model.rsplit(":", 1)[0])
    snapshots = [m for m in listed if re.fullmatch(prefix + r":\w{8}:ckpt-step-\d+", m)]
    assert snapshots
    assert all(not m.startswith(model) for m in snapshots)
    deleted = await client.models.delete(model)
    assert (deleted.id, deleted.deleted) == (model, True)
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve(model)
    with pytest.raises(openai.NotFoundError):
        await client.models.delete(model)
    with pytest.raises(openai.PermissionDeniedError):
        await client.models.delete("gpt-4o")


async def test_training_continues_from_a_fine_tuned_model(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    records = [chat_example(f"q{i}", f"a{i}") for i in range(10)]
    first = await trained_model(client, clock, records)
    training = (await client.fine_tuning.jobs.list()).data[0].training_file
    job = await client.fine_tuning.jobs.create(model=first, training_file=training, suffix="v2")
    assert job.model == first
    done = await finish(client, clock, job.id)
    assert done.fine_tuned_model is not None
    assert done.fine_tuned_model.startswith(f"ft:{MODEL}:ftd-emulator:v2:")
    await client.files.delete(training)  # the model keeps what it learned
    assert await ask(client, done.fine_tuned_model, "q4") == "a4"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.fine_tuning.jobs.create(model="ft:gpt-4o:nobody::abc", training_file=training)
    assert caught.value.param in ("model", "training_file")


async def test_a_retired_model_answers_404_model_not_found_from_then_on(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    assert await ask(client, "gpt-4o", "Is the router on?")
    await control.retire("gpt-4o")
    with pytest.raises(openai.NotFoundError) as caught:
        await ask(client, "gpt-4o", "Is the router on?")
    assert caught.value.code == "model_not_found"
    assert caught.value.status_code == 404
    assert "`gpt-4o` does not exist" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gpt-4o")
    listed = {m.id async for m in client.models.list()}
    assert "gpt-4o" not in listed
    assert "gpt-4o-mini" in listed
