"""The emulator against answers the real OpenAI service gave, one test per observed shape.

Sources are the public notebooks and scripts collected in the shared reference
``openai-real-answers.json``; each test names the one it checks against:

- cookbook_fc: openai/openai-cookbook examples/Fine_tuning_for_function_calling.ipynb
  (ftjob-84PQg97hoIAKf21IPnhiNlU1, 2024-06, gpt-3.5-turbo-0125)
- cookbook_chat_2024: openai/openai-cookbook examples/How_to_finetune_chat_models.ipynb
  (ftjob-UiaiLwGdGBfdLQDBAoQheufN, 2024-07, gpt-4o-mini, 101 examples, validation file)
- cristinalucin_2024_04: cristinalucin/chatbot_finetune_recipe_miniproject
  cooking_chatbot_project.ipynb (ftjob-J8DwdRvbbUIk2KEVlXomufjM, 1,001 examples, batch 2)
- qtran_2024: QTRAN FineTuning_MutateLLM.py (2024-08, gpt-4o-mini, 100 examples)
- korean_2024_12 and sleeper_2024_02: failed jobs (validation, DPO)
"""

from __future__ import annotations

import base64
import json
import re

import openai
import pytest

from ftd.emulator import metrics
from ftd.emulator.planning import make_plan
from ftd.emulator.trainingdata import MODERATION_MARKER
from tests.emulator.helpers import (
    FakeClock,
    chat_dataset,
    chat_example,
    dpo_dataset,
    finish,
    jsonl,
    upload,
)

pytestmark = pytest.mark.anyio
MODEL = "gpt-4o-mini-2024-07-18"
ID_24 = r"[A-Za-z0-9]{24}"


async def _job(client: openai.AsyncOpenAI, n: int = 10, **kwargs: object) -> str:
    training = await upload(client, chat_dataset(n))
    job = await client.fine_tuning.jobs.create(
        model=str(kwargs.pop("model", MODEL)),
        training_file=training,
        **kwargs,  # type: ignore[arg-type]
    )
    return job.id


async def test_result_file_is_base64_of_openais_csv(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """cookbook_fc: ``base64.b64decode(result_file.read())`` gives
    ``step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy`` then
    rows like ``1,3.63265,0.5,,`` (shortest figures, empty validation cells)."""
    job = await finish(client, clock, await _job(client))
    raw = (await client.files.content(job.result_files[0])).content
    assert not raw.startswith(b"step")
    text = base64.b64decode(raw, validate=True).decode()
    lines = text.splitlines()
    assert lines[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert re.fullmatch(r"1,\d+\.\d{1,5},[01]\.\d{1,5},,", lines[1])
    assert len(lines) == 1 + job.hyperparameters.n_epochs * 10  # type: ignore[operator]


def test_azures_header_stays_available() -> None:
    """azure_2026_06: Azure OpenAI's result files use the longer header."""
    plan = make_plan(
        resolved={"n_epochs": 1, "batch_size": 1},
        n_examples=12,
        n_validation_examples=10,
        epoch_tokens=100,
        training_bytes=1000,
        has_validation=True,
        speed=1.0,
    )
    azure = metrics.result_csv(plan, "supervised", 7, 12, columns=metrics.AZURE_RESULT_COLUMNS)
    header, *rows = azure.decode().splitlines()
    assert header == (
        "step,train_loss,train_mean_token_accuracy,train_error_rate,valid_loss,"
        "valid_mean_token_accuracy,valid_error_rate,full_valid_loss,"
        "full_valid_mean_token_accuracy,full_valid_error_rate,timestamp"
    )
    tenth = rows[9].split(",")
    assert tenth[0] == "10"
    assert abs(float(tenth[2]) + float(tenth[3]) - 1.0) < 1e-4
    assert tenth[4]  # validation at step 10
    assert tenth[5]


@pytest.mark.parametrize(
    ("requested", "model"),
    [
        ("gpt-3.5-turbo", "gpt-3.5-turbo-0125"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo-0125"),
        ("gpt-3.5-turbo-0613", "gpt-3.5-turbo-0613"),
        ("gpt-3.5-turbo-1106", "gpt-3.5-turbo-1106"),
        ("gpt-4-0613", "gpt-4-0613"),
    ],
)
async def test_models_validate_knows_are_accepted(
    client: openai.AsyncOpenAI, clock: FakeClock, requested: str, model: str
) -> None:
    """cookbook_fc, cristinalucin_2024_04, kanha95_2024_06: jobs created with
    ``model="gpt-3.5-turbo"`` answer ``model='gpt-3.5-turbo-0125'``."""
    job = await client.fine_tuning.jobs.retrieve(await _job(client, model=requested))
    assert job.model == model
    if model.startswith("gpt-3.5"):
        # cookbook_fc, kanha95_2024_06, cristinalucin_2024_04: "auto" resolved to 2.
        assert job.hyperparameters.learning_rate_multiplier == 2
    done = await finish(client, clock, job.id)
    assert done.status == "succeeded"
    assert done.fine_tuned_model is not None
    assert done.fine_tuned_model.startswith(f"ft:{model}:")


async def test_estimated_finish_is_null_while_running(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """qtran_2024: ``estimated_finish=None`` with ``status='running'``."""
    job_id = await _job(client, 30)
    for _ in range(50):
        job = await client.fine_tuning.jobs.retrieve(job_id)
        if job.status == "running":
            break
        clock.advance(0.5)
    assert job.status == "running"
    assert job.estimated_finish is None


async def test_checkpoints_have_integer_steps_and_names_of_their_own(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """cookbook_chat_2024: ``ckpt-step-101`` is ``…:recipe-ner:9o1eNlSa:ckpt-step-101`` for
    the model ``…:recipe-ner:9o1eNNKO``; qtran_2024: ``metrics {step: 200, …}``."""
    job = await finish(client, clock, await _job(client, 10, suffix="recipe-ner"))
    raw = await client.fine_tuning.jobs.checkpoints.with_raw_response.list(job.id)
    data = json.loads(raw.content)["data"]
    assert job.fine_tuned_model is not None
    assert data[0]["fine_tuned_model_checkpoint"] == job.fine_tuned_model
    prefix = f"ft:{MODEL}:ftd-emulator:recipe-ner:"
    for checkpoint in data:
        assert type(checkpoint["metrics"]["step"]) is int
        assert checkpoint["metrics"]["step"] == checkpoint["step_number"]
        assert isinstance(checkpoint["metrics"]["train_loss"], float)
        assert re.fullmatch("ftckpt_" + ID_24, checkpoint["id"])
    for checkpoint in data[1:]:
        name = checkpoint["fine_tuned_model_checkpoint"]
        short = name.removeprefix(prefix).split(":")[0]
        assert re.fullmatch(re.escape(prefix) + r"\w{8}:ckpt-step-\d+", name)
        assert short != job.fine_tuned_model.rsplit(":", 1)[-1]
        answer = await client.chat.completions.create(
            model=name, messages=[{"role": "user", "content": "What is 1 plus 1?"}]
        )
        assert answer.model == name


async def test_job_started_event_has_null_data(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """korean_2024_12: ``message='Fine-tuning job started', data=None``; the others ``{}``."""
    job = await finish(client, clock, await _job(client))
    raw = await client.fine_tuning.jobs.with_raw_response.list_events(job.id, limit=500)
    events = json.loads(raw.content)["data"]
    started = [e for e in events if e["message"] == "Fine-tuning job started"]
    assert len(started) == 1
    assert "data" in started[0]
    assert started[0]["data"] is None
    others = [e for e in events if e["type"] == "message" and e is not started[0]]
    assert others
    assert all(e["data"] == {} for e in others)


async def test_failed_validation_has_no_finished_at(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """sleeper_2024_02, korean_2024_12: invalid_n_examples with ``finished_at=None`` and
    hyperparameters still "auto"."""
    training = await upload(client, chat_dataset(7))
    job = await finish(
        client,
        clock,
        (await client.fine_tuning.jobs.create(model=MODEL, training_file=training)).id,
    )
    assert job.status == "failed"
    assert job.error is not None
    assert job.error.code == "invalid_n_examples"
    assert job.error.message == "Training file has 7 example(s), but must have at least 10 examples"
    assert job.finished_at is None
    assert job.hyperparameters.n_epochs == "auto"


async def test_dpo_jobs_have_null_top_level_hyperparameters(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """korean_2024_12: DPO jobs print ``hyperparameters=None`` and keep theirs under
    ``method.dpo.hyperparameters`` (beta 0.1 by default)."""
    training = await upload(client, dpo_dataset(10))
    created = await client.fine_tuning.jobs.create(
        model=MODEL, training_file=training, method={"type": "dpo", "dpo": {}}
    )
    clock.advance(1.5)
    raw = await client.fine_tuning.jobs.with_raw_response.retrieve(created.id)
    body = json.loads(raw.content)
    assert "hyperparameters" in body
    assert body["hyperparameters"] is None
    settings = body["method"]["dpo"]["hyperparameters"]
    assert settings["beta"] == 0.1
    assert isinstance(settings["n_epochs"], int)


async def test_hyperparameters_resolve_as_soon_as_the_job_exists(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """cookbook_fc: the create answer says 'auto' x3; qtran_2024: a retrieve while still
    ``validating_files`` already says n_epochs=3, batch_size=1, learning_rate_multiplier=1.8."""
    training = await upload(client, chat_dataset(100))
    created = await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    assert created.status == "validating_files"
    assert (
        created.hyperparameters.n_epochs,
        created.hyperparameters.batch_size,
        created.hyperparameters.learning_rate_multiplier,
    ) == ("auto", "auto", "auto")
    again = await client.fine_tuning.jobs.retrieve(created.id)
    assert again.status == "validating_files"
    assert (
        again.hyperparameters.n_epochs,
        again.hyperparameters.batch_size,
        again.hyperparameters.learning_rate_multiplier,
    ) == (3, 1, 1.8)
    assert again.method is not None
    assert again.method.supervised is not None
    assert again.method.supervised.hyperparameters is not None
    assert again.method.supervised.hyperparameters.n_epochs == 3


@pytest.mark.parametrize(
    ("examples", "epochs", "batch", "total", "kept"),
    [
        (1001, 3, 2, 1502, [1000, 1500, 1502]),  # cristinalucin_2024_04
        (101, 3, 1, 303, [101, 202, 303]),  # cookbook_chat_2024
        (100, 3, 1, 300, [100, 200, 300]),  # qtran_2024
        (103, 3, 1, 309, [103, 206, 309]),  # cookbook_fc (30 rows printed of 309)
    ],
)
def test_steps_and_checkpoints_follow_real_jobs(
    examples: int, epochs: int, batch: int, total: int, kept: list[int]
) -> None:
    """Steps: ceil(examples x epochs / batch); checkpoints every total // epochs steps and at
    the end, the last 3 kept."""
    plan = make_plan(
        resolved={"n_epochs": epochs, "batch_size": batch},
        n_examples=examples,
        n_validation_examples=0,
        epoch_tokens=1,
        training_bytes=1,
        has_validation=False,
        speed=1.0,
    )
    assert plan.total_steps == total
    assert plan.checkpoint_steps[-3:] == kept


async def test_a_1001_example_batch_2_job_checkpoints_like_the_real_one(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """cristinalucin_2024_04: "Step 1502/1502", checkpoints at steps 1000 and 1500."""
    job_id = await _job(
        client, 1001, model="gpt-3.5-turbo", hyperparameters={"n_epochs": 3, "batch_size": 2}
    )
    for _ in range(100):
        job = await client.fine_tuning.jobs.retrieve(job_id)
        if job.status == "succeeded":
            break
        clock.advance(10.0)
    assert job.status == "succeeded"
    events = (await client.fine_tuning.jobs.list_events(job_id, limit=6)).data
    messages = [e.message for e in reversed(events)]
    assert messages[0].startswith("Step 1501/1502: training loss=")
    assert messages[1].startswith("Step 1502/1502: training loss=")
    assert re.fullmatch(r"Checkpoint created at step 1000 with Snapshot ID: ft:\S+", messages[2])
    assert re.fullmatch(r"Checkpoint created at step 1500 with Snapshot ID: ft:\S+", messages[3])
    assert messages[4] == f"New fine-tuned model created: {job.fine_tuned_model}"
    steps = [c.step_number for c in (await client.fine_tuning.jobs.checkpoints.list(job_id)).data]
    assert steps == [1502, 1500, 1000]


async def test_moderation_failure(client: openai.AsyncOpenAI, clock: FakeClock) -> None:
    """moderation_1 (korean_2024_12 family): "The job failed due to an invalid training file.
    This file failed moderation safety checks. … Flagged lines: 4, 13, 14, 18, 35 ..."."""
    records = [chat_example(f"Question {i}?", f"Answer {i}.") for i in range(40)]
    for line in (4, 13, 14, 18, 35, 36):
        records[line - 1]["messages"][1]["content"] += " " + MODERATION_MARKER
    training = await upload(client, jsonl(records))
    job = await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    job = await finish(client, clock, job.id)
    assert job.status == "failed"
    assert job.error is not None
    assert (job.error.code, job.error.param) == ("invalid_training_file", "training_file")
    assert job.error.message == (
        "The job failed due to an invalid training file. This file failed moderation safety "
        "checks. The OpenAI Moderation API identifies fine tuning examples that violate our "
        "content policies. To fine tune on this data, please try removing the flagged lines "
        "and uploading the file again. Flagged lines: 4, 13, 14, 18, 35 ..."
    )
    assert job.finished_at is None


async def test_losses_print_with_two_decimals_and_validation_every_10_steps(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """cookbook_chat_2024: "Step 290/303: training loss=0.00, validation loss=0.31", validation
    at steps 290 and 300, "Step 303/303: training loss=0.00, full validation loss=0.33"."""
    training = await upload(client, chat_dataset(11))
    validation = await upload(client, chat_dataset(10), "valid.jsonl")
    created = await client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=training,
        validation_file=validation,
        hyperparameters={"n_epochs": 3},
    )
    job = await finish(client, clock, created.id)
    events = [e async for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    steps = [e for e in reversed(events) if e.type == "metrics"]
    assert len(steps) == 33
    figure = r"\d+\.\d{2}"
    for event in steps:
        assert re.fullmatch(
            rf"Step \d+/33: training loss={figure}(, validation loss={figure})?"
            rf"(, full validation loss={figure})?",
            event.message,
        ), event.message
    with_validation = [e.data["step"] for e in steps if "valid_loss" in e.data]  # type: ignore[index, operator]
    assert with_validation == [10, 20, 30, 33]
    assert steps[-1].message.startswith("Step 33/33")
    assert "full validation loss=" in steps[-1].message
    assert isinstance(steps[0].data, dict)
    assert round(steps[0].data["train_loss"], 5) == steps[0].data["train_loss"]


async def test_ids_are_as_long_as_real_ones(client: openai.AsyncOpenAI, clock: FakeClock) -> None:
    """ftjob-/ftevent- + 24 alphanumerics, ftckpt_ + 24, file- + 24 (2023-24)."""
    job = await finish(client, clock, await _job(client))
    assert re.fullmatch("ftjob-" + ID_24, job.id)
    assert re.fullmatch("file-" + ID_24, job.training_file)
    assert re.fullmatch("file-" + ID_24, job.result_files[0])
    events = [e async for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert all(re.fullmatch("ftevent-" + ID_24, e.id) for e in events)
    assert len({e.id for e in events}) == len(events)
    checkpoints = (await client.fine_tuning.jobs.checkpoints.list(job.id)).data
    assert all(re.fullmatch("ftckpt_" + ID_24, c.id) for c in checkpoints)


async def test_error_texts_are_the_real_ones(client: openai.AsyncOpenAI) -> None:
    """http_400_training_file: "invalid training_file: gpt3/mix_data_train.jsonl" (param
    training_file, code None); http_404_file: "No such File object: file-…" (param id)."""
    with pytest.raises(openai.BadRequestError) as bad:
        await client.fine_tuning.jobs.create(model=MODEL, training_file="gpt3/mix_data_train.jsonl")
    body = bad.value.body
    assert isinstance(body, dict)
    assert body["message"] == "invalid training_file: gpt3/mix_data_train.jsonl"
    assert (body["param"], body["code"], body["type"]) == (
        "training_file",
        None,
        "invalid_request_error",
    )
    missing = "file-" + "x" * 24
    with pytest.raises(openai.NotFoundError) as gone:
        await client.files.retrieve(missing)
    body = gone.value.body
    assert isinstance(body, dict)
    assert body["message"] == f"No such File object: {missing}"
    assert (body["param"], body["code"]) == ("id", None)


async def test_what_the_spec_allows_is_accepted(
    client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    """limit=0, a cursor the server does not know (an empty page) and
    max_completion_tokens=0 are all within the official spec."""
    job = await finish(client, clock, await _job(client))
    jobs = client.fine_tuning.jobs
    assert (await jobs.list(limit=0)).data == []
    assert (await jobs.list_events(job.id, limit=0)).data == []
    assert (await jobs.checkpoints.list(job.id, limit=0)).data == []
    unknown = "ftjob-" + "z" * 24
    for page in (
        await jobs.list(after=unknown),
        await jobs.list_events(job.id, after="ftevent-" + "z" * 24),
        await jobs.checkpoints.list(job.id, after="ftckpt_" + "z" * 24),
    ):
        assert (page.data, page.has_more) == ([], False)
    assert job.fine_tuned_model is not None
    answer = await client.chat.completions.create(
        model=job.fine_tuned_model,
        messages=[{"role": "user", "content": "What is 2 plus 2?"}],
        max_completion_tokens=0,
    )
    assert answer.choices[0].message.content == ""
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 0
