"""A job's life on the emulated clock: statuses, events, metrics, checkpoints, result file."""

from __future__ import annotations

import base64
import csv
import io
import json

import openai
import pytest
import tiktoken

from ftd.emulator.control import EmulatorControl
from tests.emulator.helpers import (
    STRING_CHECK_GRADER,
    FakeClock,
    chat_dataset,
    dpo_dataset,
    finish,
    rft_dataset,
    upload,
)

pytestmark = pytest.mark.anyio
MODEL = "gpt-4.1-mini-2025-04-14"
RESULT_HEADER = "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"


def expected_tokens(content: bytes) -> int:
    """Billable tokens of one epoch, counted here independently of the emulator.

    OpenAI's framing for plain chat (tests/datasets/test_billing.py): per
    message 3 tokens, its role and its content; 1 more per example.
    """
    encoding = tiktoken.get_encoding("o200k_base")
    total = 0
    for line in content.decode().splitlines():
        messages = json.loads(line)["messages"]
        size = sum(
            3 + len(encoding.encode(m["role"])) + len(encoding.encode(m["content"]))
            for m in messages
        )
        total += min(65_536, size + 1)
    return total


async def test_full_lifecycle(client: openai.AsyncOpenAI, clock: FakeClock) -> None:
    content = chat_dataset(12)
    training = await upload(client, content)
    validation = await upload(client, chat_dataset(10), "valid.jsonl")
    raw = await client.fine_tuning.jobs.with_raw_response.create(
        model=MODEL, training_file=training, validation_file=validation, suffix="demo"
    )
    body = json.loads(raw.content)
    assert body["error"] == {}
    assert body["status"] == "validating_files"
    assert (body["fine_tuned_model"], body["finished_at"], body["trained_tokens"]) == (
        None,
        None,
        None,
    )
    assert body["hyperparameters"] == {
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
        "n_epochs": "auto",
    }
    job_id = body["id"]

    clock.advance(1.5)
    queued = await client.fine_tuning.jobs.retrieve(job_id)
    assert queued.status == "queued"
    assert (queued.hyperparameters.n_epochs, queued.hyperparameters.batch_size) == (8, 1)
    assert queued.hyperparameters.learning_rate_multiplier == 1.8
    clock.advance(1.0)
    running = await client.fine_tuning.jobs.retrieve(job_id)
    assert running.status == "running"
    assert running.estimated_finish is None  # as every real job printed, running or not

    job = await finish(client, clock, job_id)
    assert job.status == "succeeded"
    model = f"ft:{MODEL}:ftd-emulator:demo:{job_id.removeprefix('ftjob-')[:8]}"
    assert job.fine_tuned_model == model
    assert job.trained_tokens == 8 * expected_tokens(content)
    assert job.finished_at is not None
    assert job.finished_at >= job.created_at
    raw_done = await client.fine_tuning.jobs.with_raw_response.retrieve(job_id)
    assert json.loads(raw_done.content)["error"] == {}

    events = [e async for e in client.fine_tuning.jobs.list_events(job_id, limit=7)]
    assert len({e.id for e in events}) == len(events)
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    assert events[-1].message == f"Created fine-tuning job: {job_id}"
    assert (
        events[-2].message
        == f"Validating training file: {training} and validation file: {validation}"
    )
    assert events[0].message == "The job has successfully completed"
    assert events[1].message == f"New fine-tuned model created: {model}"
    metrics = [e for e in reversed(events) if e.type == "metrics"]
    assert [e.data["step"] for e in metrics] == list(range(1, 97))  # type: ignore[index]
    first, last = metrics[0].data, metrics[-1].data
    assert isinstance(first, dict)
    assert isinstance(last, dict)
    assert first["total_steps"] == 96
    assert {"train_loss", "train_mean_token_accuracy"} <= set(first)
    assert last["train_loss"] < first["train_loss"]
    assert metrics[-1].message.startswith("Step 96/96: training loss=")
    valid_steps = [e.data["step"] for e in metrics if "valid_loss" in e.data]  # type: ignore[index, operator]
    assert valid_steps
    assert len(valid_steps) < 96
    full_steps = [e.data["step"] for e in metrics if "full_valid_loss" in e.data]  # type: ignore[index, operator]
    assert full_steps == [12 * k for k in range(1, 9)]

    newest = await client.fine_tuning.jobs.list_events(job_id, limit=5)
    older = await client.fine_tuning.jobs.list_events(job_id, limit=5, after=newest.data[-1].id)
    assert [e.id for e in newest.data + older.data] == [e.id for e in events[:10]]
    assert newest.has_more is True

    checkpoints = await client.fine_tuning.jobs.checkpoints.list(job_id)
    assert [c.step_number for c in checkpoints.data] == [96, 84, 72]
    assert checkpoints.data[0].fine_tuned_model_checkpoint == model
    snapshot = checkpoints.data[1].fine_tuned_model_checkpoint
    assert snapshot.startswith(f"ft:{MODEL}:ftd-emulator:demo:")
    assert snapshot.endswith(":ckpt-step-84")
    assert not snapshot.startswith(model)  # a snapshot of its own, not the final model's id
    assert checkpoints.data[2].metrics.full_valid_loss is not None
    after = await client.fine_tuning.jobs.checkpoints.list(
        job_id, after=checkpoints.data[0].id, limit=1
    )
    assert [c.step_number for c in after.data] == [84]
    assert after.has_more is True

    assert len(job.result_files) == 1
    result = await client.files.retrieve(job.result_files[0])
    assert (result.purpose, result.filename) == ("fine-tune-results", "step_metrics.csv")
    text = base64.b64decode((await client.files.content(result.id)).content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == RESULT_HEADER
    assert [int(r["step"]) for r in rows] == list(range(1, 97))
    assert any(r["valid_loss"] == "" for r in rows)
    assert any(r["valid_loss"] for r in rows)
    assert float(rows[0]["train_loss"]) == first["train_loss"]


async def test_result_files_arrive_base64_unless_told_otherwise(
    client: openai.AsyncOpenAI, clock: FakeClock, control: EmulatorControl
) -> None:
    job = await client.fine_tuning.jobs.create(
        model=MODEL, training_file=await upload(client, chat_dataset(10))
    )
    job = await finish(client, clock, job.id)
    encoded = (await client.files.content(job.result_files[0])).content
    await control.configure(result_files_base64=False)
    plain = (await client.files.content(job.result_files[0])).content
    assert not encoded.startswith(b"step")
    assert base64.b64decode(encoded) == plain
    assert plain.startswith(RESULT_HEADER.encode() + b"\n")


async def test_pause_resume_cancel_and_wrong_states(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    training = await upload(client, chat_dataset(10))
    paused_job = await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    steady_job = await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    paused = await client.fine_tuning.jobs.pause(paused_job.id)
    assert str(paused.status) == "paused"  # beyond the SDK's enum, as with the real service
    with pytest.raises(openai.BadRequestError):
        await client.fine_tuning.jobs.pause(paused_job.id)
    with pytest.raises(openai.BadRequestError):
        await client.fine_tuning.jobs.resume(steady_job.id)
    clock.advance(100)
    assert str((await client.fine_tuning.jobs.retrieve(paused_job.id)).status) == "paused"
    steady = await client.fine_tuning.jobs.retrieve(steady_job.id)
    assert steady.status == "succeeded"
    resumed = await client.fine_tuning.jobs.resume(paused_job.id)
    assert resumed.status == "validating_files"
    done = await finish(client, clock, paused_job.id)
    assert done.status == "succeeded"
    assert done.finished_at is not None
    assert steady.finished_at is not None
    assert 99 <= done.finished_at - steady.finished_at <= 106
    messages = [
        e.message async for e in client.fine_tuning.jobs.list_events(paused_job.id, limit=50)
    ]
    assert messages.index("Fine-tuning job resumed") < messages.index("Fine-tuning job paused")
    with pytest.raises(openai.BadRequestError) as caught:
        await client.fine_tuning.jobs.cancel(done.id)
    assert "succeeded" in caught.value.message

    victim = await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    clock.advance(3)
    cancelled = await client.fine_tuning.jobs.cancel(victim.id)
    assert cancelled.status == "cancelled"
    assert cancelled.finished_at is not None
    clock.advance(100)
    later = await client.fine_tuning.jobs.retrieve(victim.id)
    assert (later.status, later.fine_tuned_model, later.result_files) == ("cancelled", None, [])
    newest = await client.fine_tuning.jobs.list_events(victim.id, limit=1)
    assert newest.data[0].message == "Fine-tuning job cancelled"
    for action in (
        client.fine_tuning.jobs.cancel,
        client.fine_tuning.jobs.pause,
        client.fine_tuning.jobs.resume,
    ):
        with pytest.raises(openai.BadRequestError):
            await action(victim.id)
    with pytest.raises(openai.NotFoundError):
        await client.fine_tuning.jobs.cancel("ftjob-missing")


BAD_FILES = [
    ("not json", b"{not json}\n" * 12, "invalid_training_file", "Line 1 is not valid JSON"),
    (
        "missing role",
        chat_dataset(11)
        + b'{"messages": [{"content": "hi"}, {"role": "assistant", "content": "x"}]}\n',
        "invalid_training_file",
        "Example 12, message 1 Discriminator 'role' is missing in value",
    ),
    (
        "special token",
        chat_dataset(11) + chat_dataset(1).replace(b"0 plus", b"<|endoftext|> plus", 1),
        "invalid_training_file",
        "Example 12 message contains an invalid token: <|endoftext|>",
    ),
    (
        "prompt completion",
        b'{"prompt": "a", "completion": "b"}\n' * 12,
        "invalid_training_file",
        "expected either prompt/completion pairs or chat messages",
    ),
    ("seven examples", chat_dataset(7), "invalid_n_examples", None),
]


@pytest.mark.parametrize(
    ("case", "content", "code", "text"), BAD_FILES, ids=[c[0] for c in BAD_FILES]
)
async def test_server_side_validation_fails_the_job(
    client: openai.AsyncOpenAI,
    clock: FakeClock,
    case: str,
    content: bytes,
    code: str,
    text: str | None,
) -> None:
    job = await client.fine_tuning.jobs.create(
        model=MODEL, training_file=await upload(client, content)
    )
    assert job.status == "validating_files"
    failed = await finish(client, clock, job.id)
    assert failed.status == "failed", case
    assert failed.error is not None
    assert (failed.error.code, failed.error.param) == (code, "training_file")
    if text is None:
        assert (
            failed.error.message
            == "Training file has 7 example(s), but must have at least 10 examples"
        )
    else:
        assert text in failed.error.message
    assert (failed.trained_tokens, failed.fine_tuned_model) == (None, None)
    newest = (await client.fine_tuning.jobs.list_events(job.id, limit=1)).data[0]
    assert (newest.level, newest.message) == ("error", failed.error.message)
    assert (await client.fine_tuning.jobs.checkpoints.list(job.id)).data == []


async def test_method_mismatch_and_bad_validation_file(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    chat = await upload(client, chat_dataset(12))
    dpo = await client.fine_tuning.jobs.create(
        model=MODEL, training_file=chat, method={"type": "dpo"}
    )
    failed = await finish(client, clock, dpo.id)
    assert failed.error is not None
    assert failed.error.code == "invalid_training_file"
    assert "fine-tune-chat format" in failed.error.message
    assert "method=dpo" in failed.error.message
    broken = await upload(client, b"[1, 2]\n", "v.jsonl")
    job = await client.fine_tuning.jobs.create(
        model=MODEL, training_file=chat, validation_file=broken
    )
    failed = await finish(client, clock, job.id)
    assert failed.error is not None
    assert (failed.error.code, failed.error.param) == ("invalid_validation_file", "validation_file")


async def test_dpo_and_reinforcement_jobs_succeed(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    dpo = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=await upload(client, dpo_dataset(12)),
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.5}}},
    )
    done = await finish(client, clock, dpo.id)
    assert done.status == "succeeded"
    assert done.method is not None
    assert done.method.dpo is not None
    assert done.method.dpo.hyperparameters is not None
    assert done.method.dpo.hyperparameters.beta == 0.5
    rft = await client.fine_tuning.jobs.create(
        model="o4-mini-2025-04-16",
        training_file=await upload(client, rft_dataset(12)),
        validation_file=await upload(client, rft_dataset(5), "v.jsonl"),
        method={"type": "reinforcement", "reinforcement": {"grader": STRING_CHECK_GRADER}},
    )
    done = await finish(client, clock, rft.id)
    assert done.status == "succeeded"
    metrics = [
        e
        async for e in client.fine_tuning.jobs.list_events(rft.id, limit=100)
        if e.type == "metrics"
    ]
    assert metrics
    assert all(isinstance(e.data, dict) and "train_mean_reward" in e.data for e in metrics)


async def test_random_job_failures(
    client: openai.AsyncOpenAI, clock: FakeClock, control: EmulatorControl
) -> None:
    await control.configure(job_failure_rate=1.0)
    job = await client.fine_tuning.jobs.create(
        model=MODEL, training_file=await upload(client, chat_dataset(10))
    )
    failed = await finish(client, clock, job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "server_error"
    assert failed.error.param is None
    events = [e async for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert events[0].level == "error"
    assert any(e.type == "metrics" for e in events)
    assert (await client.fine_tuning.jobs.checkpoints.list(job.id)).data == []


async def test_list_paging_and_metadata_filter(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    training = await upload(client, chat_dataset(10))
    ids = []
    for i in range(5):
        metadata = {"ds": "a" if i % 2 == 0 else "b"} if i < 4 else None
        job = await client.fine_tuning.jobs.create(
            model=MODEL, training_file=training, metadata=metadata
        )
        ids.append(job.id)
        clock.advance(1)
    page = await client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in page.data] == [ids[4], ids[3]]
    assert page.has_more
    rest = await client.fine_tuning.jobs.list(limit=10, after=ids[3])
    assert [j.id for j in rest.data] == [ids[2], ids[1], ids[0]]
    assert not rest.has_more
    assert [j.id async for j in client.fine_tuning.jobs.list(limit=2)] == ids[::-1]
    tagged = await client.fine_tuning.jobs.list(metadata={"ds": "a"})
    assert [j.id for j in tagged.data] == [ids[2], ids[0]]
    untagged = await client.fine_tuning.jobs.list(extra_query={"metadata": "null"})
    assert [j.id for j in untagged.data] == [ids[4]]


async def test_foreign_cursors_give_empty_pages(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """An ``after`` the server does not know is no error: the real service answers empty."""
    training = await upload(client, chat_dataset(10))
    first = await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    second = await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    foreign = (await client.fine_tuning.jobs.list_events(first.id, limit=1)).data[0].id
    page = await client.fine_tuning.jobs.list_events(second.id, after=foreign)
    assert (page.data, page.has_more) == ([], False)
    jobs = await client.fine_tuning.jobs.list(after="ftjob-unknown")
    assert (jobs.data, jobs.has_more) == ([], False)
    with pytest.raises(openai.NotFoundError):
        await client.fine_tuning.jobs.list_events("ftjob-unknown")
