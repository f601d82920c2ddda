"""Job creation: every request rule answers 400 naming the field; refusals answer 403/429."""

from __future__ import annotations

from typing import Any, cast

import openai
import pytest
from openai.types.fine_tuning import job_create_params

from ftd.emulator.control import EmulatorControl
from tests.emulator.helpers import STRING_CHECK_GRADER, chat_dataset, rft_dataset, upload

pytestmark = pytest.mark.anyio
MODEL = "gpt-4.1-mini-2025-04-14"


def supervised(**hyperparameters: Any) -> job_create_params.Method:
    method = {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}
    return cast("job_create_params.Method", method)


BAD_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    ("long suffix", {"suffix": "s" * 65}, "suffix"),
    ("empty suffix", {"suffix": ""}, "suffix"),
    ("too many metadata keys", {"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ("long metadata key", {"metadata": {"k" * 65: "v"}}, "metadata"),
    ("long metadata value", {"metadata": {"k": "v" * 513}}, "metadata"),
    ("negative seed", {"seed": -1}, "seed"),
    ("huge seed", {"seed": 2_147_483_648}, "seed"),
    (
        "zero epochs",
        {"method": supervised(n_epochs=0)},
        "method.supervised.hyperparameters.n_epochs",
    ),
    (
        "51 epochs",
        {"method": supervised(n_epochs=51)},
        "method.supervised.hyperparameters.n_epochs",
    ),
    (
        "batch 257",
        {"method": supervised(batch_size=257)},
        "method.supervised.hyperparameters.batch_size",
    ),
    (
        "zero learning rate",
        {"method": supervised(learning_rate_multiplier=0)},
        "method.supervised.hyperparameters.learning_rate_multiplier",
    ),
    (
        "dpo beta above 2",
        {"method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 2.5}}}},
        "method.dpo.hyperparameters.beta",
    ),
    (
        "legacy epochs out of range",
        {"hyperparameters": {"n_epochs": 100}},
        "hyperparameters.n_epochs",
    ),
    (
        "legacy and method hyperparameters",
        {"hyperparameters": {"n_epochs": 2}, "method": supervised(n_epochs=3)},
        "hyperparameters",
    ),
    ("unknown method", {"method": {"type": "magic"}}, "method.type"),
    (
        "reinforcement on gpt-4.1",
        {"method": {"type": "reinforcement", "reinforcement": {"grader": STRING_CHECK_GRADER}}},
        "method.type",
    ),
    ("unknown model", {"model": "gpt-9"}, "model"),
    ("missing training file", {"training_file": "file-missing"}, "training_file"),
    ("missing validation file", {"validation_file": "file-missing"}, "validation_file"),
    ("unknown argument", {"colour": "blue"}, "colour"),
]


@pytest.mark.parametrize(
    ("case", "changes", "param"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
async def test_bad_requests_name_the_field(
    client: openai.AsyncOpenAI, case: str, changes: dict[str, Any], param: str
) -> None:
    training = await upload(client, chat_dataset(12))
    body: dict[str, Any] = {"model": MODEL, "training_file": training, **changes}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.post("/fine_tuning/jobs", body=body, cast_to=object)
    assert caught.value.param == param, case
    assert (await client.fine_tuning.jobs.list()).data == []


async def test_dpo_is_refused_on_o4_mini_and_files_need_fine_tune_purpose(
    client: openai.AsyncOpenAI,
) -> None:
    training = await upload(client, chat_dataset(12))
    with pytest.raises(openai.BadRequestError) as caught:
        await client.fine_tuning.jobs.create(
            model="o4-mini-2025-04-16", training_file=training, method={"type": "dpo"}
        )
    assert caught.value.param == "method.type"
    other = await client.files.create(
        file=("x.jsonl", chat_dataset(12), "text/jsonl"), purpose="batch"
    )
    with pytest.raises(openai.BadRequestError) as caught:
        await client.fine_tuning.jobs.create(model=MODEL, training_file=other.id)
    assert (caught.value.param, caught.value.code) == ("training_file", "invalid_file_purpose")
    no_grader = {
        "model": "o4-mini-2025-04-16",
        "training_file": await upload(client, rft_dataset(12)),
        "method": {"type": "reinforcement", "reinforcement": {}},
    }
    with pytest.raises(openai.BadRequestError) as caught:
        await client.post("/fine_tuning/jobs", body=no_grader, cast_to=object)
    assert caught.value.param == "method.reinforcement.grader"


async def test_valid_requests_echo_what_was_asked(client: openai.AsyncOpenAI) -> None:
    training = await upload(client, chat_dataset(12))
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini",
        training_file=training,
        suffix="s" * 64,
        seed=2_147_483_647,
        metadata={f"k{i}": "v" * 512 for i in range(16)},
        method=supervised(n_epochs=2, batch_size="auto"),
    )
    assert job.status == "validating_files"
    assert job.model == "gpt-4o-mini-2024-07-18"
    assert job.seed == 2_147_483_647
    assert job.metadata is not None
    assert len(job.metadata) == 16
    assert (job.model_extra or {})["user_provided_suffix"] == "s" * 64
    assert job.method is not None
    assert job.method.supervised is not None
    legacy = await client.fine_tuning.jobs.create(
        model=MODEL, training_file=training, hyperparameters={"n_epochs": 4}
    )
    assert legacy.hyperparameters.n_epochs == 4
    assert legacy.method is not None
    assert legacy.method.type == "supervised"


async def test_training_not_available_refuses_every_create(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    training = await upload(client, chat_dataset(12))
    await control.configure(training_not_available=True)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    assert caught.value.code == "training_not_available"
    assert "winding down the fine-tuning platform" in caught.value.message
    await control.configure(training_not_available=False)
    assert (await client.fine_tuning.jobs.create(model=MODEL, training_file=training)).id


async def test_active_job_cap_and_daily_cap(
    client: openai.AsyncOpenAI, control: EmulatorControl
) -> None:
    training = await upload(client, chat_dataset(12))
    await control.configure(max_active_jobs=2)
    first = await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    with pytest.raises(openai.RateLimitError) as caught:
        await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    assert caught.value.code == "rate_limit_exceeded"
    assert "concurrently active" in caught.value.message
    await client.fine_tuning.jobs.cancel(first.id)
    await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    await control.configure(max_active_jobs=None, daily_job_cap=3)
    with pytest.raises(openai.RateLimitError) as caught:
        await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    assert caught.value.code == "daily_rate_limit_exceeded"
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == (
        "Your organization has reached the maximum of 3 fine-tuning requests per day "
        f"for the model '{MODEL}'."
    )
    other_model = await client.fine_tuning.jobs.create(model="gpt-4.1-nano", training_file=training)
    assert other_model.model == "gpt-4.1-nano-2025-04-14"
