"""The Together adapter against the Together flavour of the emulator, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ftd.config import load_settings
from ftd.errors import RemoteError
from ftd.providers import JobRequest
from ftd.providers.kinds import AUTH, INVALID
from ftd.providers.registry import open_provider
from ftd.providers.together import TogetherProvider, suffix_for, tag_of_filename
from ftd.tags import TAG_KEY
from tests.emulator.helpers import FakeClock, chat_dataset, dpo_dataset
from tests.emulator.together_support import KEY, LLAMA_8B, LLAMA_70B, together_emulator

pytestmark = pytest.mark.anyio
TAG = "0123456789abcdef-t1"
NAME = f"ftd-{TAG}-train.jsonl"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _open(tmp_path: Path, root: str, key: str = KEY, **together: Any) -> TogetherProvider:
    env = {"HOME": str(tmp_path), "TOGETHER_API_KEY": key}
    overrides = {"provider": {"kind": "together", "together": {"base_url": root, **together}}}
    settings = load_settings(env=env, overrides=overrides)
    adapter = open_provider("default", settings.provider)
    assert isinstance(adapter, TogetherProvider)
    return adapter


@pytest.fixture
async def emulator_root(clock: FakeClock) -> AsyncIterator[str]:
    async with together_emulator(clock=clock, deployment_provisioning_seconds=60) as emulator:
        yield emulator.base_url


@pytest.fixture
async def provider(tmp_path: Path, emulator_root: str) -> AsyncIterator[TogetherProvider]:
    adapter = _open(tmp_path, emulator_root, endpoint_hardware="1x_nvidia_h100_80gb_sxm")
    yield adapter
    await adapter.close()


async def _upload(provider: TogetherProvider, tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return (await provider.upload(path, name)).id


async def _until(provider: TogetherProvider, clock: FakeClock, job_id: str, final: str) -> Any:
    for _ in range(1000):
        job = await provider.job(job_id)
        if job.status == final:
            return job
        clock.advance(0.5)
    raise AssertionError(f"{job_id} never reached {final}")


def test_upload_names_carry_the_tag() -> None:
    assert tag_of_filename(NAME) == TAG
    assert tag_of_filename("ftd-0123456789abcdef-t1-validation.jsonl") == TAG
    assert tag_of_filename("train.jsonl") is None
    assert suffix_for(TAG) == "ftd-0123456789ab"


async def test_a_job_created_before_a_crash_is_found_by_its_training_file_name(
    provider: TogetherProvider, tmp_path: Path, emulator_root: str
) -> None:
    """The create's answer was lost (ftd died): the job is found by its file's name."""
    assert not provider.capabilities.metadata_stored
    ours = await _upload(provider, tmp_path, NAME, chat_dataset(10))
    theirs = await _upload(provider, tmp_path, "someone-else.jsonl", chat_dataset(10))
    other = await _upload(
        provider, tmp_path, "ftd-fedcba9876543210-t2-train.jsonl", chat_dataset(10)
    )
    # Sent by another process (ftd before the crash), so this session never saw the answer.
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
        for training, suffix in ((ours, suffix_for(TAG)), (theirs, None), (other, None)):
            body: dict[str, Any] = {"model": LLAMA_8B, "training_file": training}
            if suffix:
                body["suffix"] = suffix
            async with http.post(emulator_root + "/fine-tunes", json=body) as answer:
                assert answer.status == 200
                if training == ours:
                    created = (await answer.json())["id"]
    fresh = _open(tmp_path, emulator_root)  # a new session knows no file names yet
    try:
        found = await fresh.find_jobs(TAG_KEY, TAG)
    finally:
        await fresh.close()
    assert [job.id for job in found] == [created]
    assert found[0].metadata == {TAG_KEY: TAG}


async def test_statuses_events_metrics_checkpoints_and_chat(
    provider: TogetherProvider, tmp_path: Path, clock: FakeClock
) -> None:
    training = await _upload(provider, tmp_path, NAME, chat_dataset(20))
    assert (await provider.file(training)).status == "processed"
    assert (await provider.find_file(NAME)) is not None
    request = JobRequest(
        model=LLAMA_8B,
        training_file=training,
        metadata={TAG_KEY: TAG},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        extra={"together": {"n_checkpoints": 2, "batch_size": 8, "learning_rate": 1e-4}},
    )
    created = await provider.create_job(request)
    assert created.status == "validating_files"
    assert created.provider_status == "pending"
    assert created.metadata == {TAG_KEY: TAG}
    seen: list[tuple[str, str | None]] = []
    for _ in range(60):
        job = await provider.job(created.id)
        if not seen or seen[-1] != (job.status, job.provider_status):
            seen.append((job.status, job.provider_status))
        clock.advance(0.1)
    assert seen == [
        ("validating_files", "pending"),
        ("queued", "queued"),
        ("running", "running"),
        ("running", "compressing"),
        ("running", "uploading"),
        ("succeeded", "completed"),
    ]
    assert job.fine_tuned_model is not None
    assert job.fine_tuned_model.endswith(
        f"-{suffix_for(TAG)}-" + job.fine_tuned_model.rsplit("-", 1)[-1]
    )
    assert job.trained_tokens
    events, more = await provider.events_page(created.id, limit=100)
    assert not more
    metrics = [e for e in events if e.type == "metrics"]
    assert [e.data["step"] for e in metrics if e.data] == [5, 4, 3, 2, 1]
    assert all(e.data and "train_loss" in e.data for e in metrics)
    older, _ = await provider.events_page(created.id, after=events[2].id, limit=2)
    assert [e.id for e in older] == [e.id for e in events[3:5]]
    again, _ = await provider.events_page(created.id, limit=100)
    assert [e.id for e in again] == [e.id for e in events]  # ids are stable between reads
    checkpoints, _ = await provider.checkpoints_page(created.id)
    assert [c.step for c in checkpoints] == [5, 2]
    assert checkpoints[0].model == job.fine_tuned_model
    assert checkpoints[1].metrics
    assert "train_loss" in checkpoints[1].metrics
    await provider.model(job.fine_tuned_model)
    answer = await provider.chat(
        model=job.fine_tuned_model,
        messages=[{"role": "user", "content": "What is 4 plus 4?"}],
        params={"max_completion_tokens": 50},
        request_timeout=10,
    )
    assert answer.text == "4 plus 4 is 8."


async def test_dpo_full_job_body_and_cancel(
    provider: TogetherProvider, tmp_path: Path, clock: FakeClock
) -> None:
    training = await _upload(provider, tmp_path, NAME, dpo_dataset(12))
    request = JobRequest(
        model=LLAMA_70B,
        training_file=training,
        metadata={TAG_KEY: TAG},
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.3, "batch_size": 8}}},
        extra={"together": {"training_type": "full"}},
    )
    body = provider.job_body(request)
    assert body["training_method"] == {"method": "dpo", "dpo_beta": 0.3}
    assert body["training_type"] == {"type": "Full"}
    job = await provider.create_job(request)
    clock.advance(2.05)
    cancelled = await provider.cancel_job(job.id)
    assert cancelled.provider_status == "cancel_requested"
    assert cancelled.status == "running"
    done = await _until(provider, clock, job.id, "cancelled")
    assert done.provider_status == "cancelled"
    with pytest.raises(RemoteError) as refused:
        await provider.pause_job(job.id)
    assert refused.value.kind == "unsupported"


async def test_refusals_have_their_kind(provider: TogetherProvider, tmp_path: Path) -> None:
    training = await _upload(provider, tmp_path, NAME, chat_dataset(10))
    with pytest.raises(RemoteError) as unsupported:
        await provider.create_job(
            JobRequest(model="gpt-4o-mini", training_file=training, metadata={})
        )
    assert unsupported.value.kind == INVALID
    assert "gpt-4o-mini" in str(unsupported.value)
    assert await provider.model_limits("gpt-4o-mini") is None
    limits = await provider.model_limits(LLAMA_8B)
    assert limits is not None
    assert limits["lora_training"]["max_rank"] == 64
    assert LLAMA_8B in await provider.supported_models()


async def test_price_estimate_and_endpoint_life(
    provider: TogetherProvider, tmp_path: Path, clock: FakeClock
) -> None:
    training = await _upload(provider, tmp_path, NAME, chat_dataset(10))
    request = JobRequest(model=LLAMA_70B, training_file=training, metadata={TAG_KEY: TAG})
    estimate = await provider.estimate_price(request)
    assert estimate["estimated_total_price"] > 0
    job = await provider.create_job(request)
    done = await _until(provider, clock, job.id, "succeeded")
    assert provider.capabilities.needs_deployment
    name = "ftd-0123456789abcdef-t1"
    made = await provider.deploy(name, done.fine_tuned_model)
    assert made.state == "creating"
    again = await provider.deploy(name, done.fine_tuned_model)  # asked twice: still one
    assert again.provider_state == "PENDING"
    assert len(await provider.deployments()) == 1
    clock.advance(61)
    ready = await provider.deployment(name)
    assert ready is not None
    assert ready.state == "succeeded"
    answer = await provider.chat(
        model=name,
        messages=[{"role": "user", "content": "What is 1 plus 1?"}],
        params={},
        request_timeout=10,
    )
    assert answer.text == "1 plus 1 is 2."
    await provider.undeploy(name)
    assert await provider.deployment(name) is None
    await provider.undeploy(name)  # gone already: no error


async def test_a_missing_key_is_an_auth_error(tmp_path: Path, emulator_root: str) -> None:
    adapter = _open(tmp_path, emulator_root, key="not-empty")
    adapter._key = ""  # what a server sees from a client that sends no usable key
    try:
        with pytest.raises(RemoteError) as refused:
            await adapter.supported_models()
    finally:
        await adapter.close()
    assert refused.value.kind == AUTH


WANDB_KEY = "wandb-secret-0123456789abcdef0123456789abcdef"


def _settings_with_wandb(tmp_path: Path, root: str, env: dict[str, str], **together: Any) -> Any:
    base = {"HOME": str(tmp_path), "TOGETHER_API_KEY": KEY, **env}
    overrides = {"provider": {"kind": "together", "together": {"base_url": root, **together}}}
    return load_settings(env=base, overrides=overrides)


async def test_wandb_fields_go_with_a_key_given_by_environment_never_logged(
    tmp_path: Path, emulator_root: str
) -> None:
    import structlog

    from ftd.config.together import TogetherRun

    settings = _settings_with_wandb(
        tmp_path,
        emulator_root,
        {"FTD_WANDB": WANDB_KEY},
        wandb_api_key_env="FTD_WANDB",
        wandb_base_url="https://wandb.example.com",
    )
    assert WANDB_KEY not in repr(settings.provider.together)
    adapter = open_provider("default", settings.provider)
    assert isinstance(adapter, TogetherProvider)
    run = TogetherRun.model_validate({"wandb_project_name": "sums", "wandb_name": "first"})
    try:
        training = await _upload(adapter, tmp_path, NAME, chat_dataset(12))
        request = JobRequest(
            model=LLAMA_8B,
            training_file=training,
            metadata={TAG_KEY: TAG},
            method={"type": "supervised", "supervised": {"hyperparameters": {}}},
            extra={"together": run.request()},
        )
        body = adapter.job_body(request)
        assert body["wandb_api_key"] == WANDB_KEY
        assert body["wandb_base_url"] == "https://wandb.example.com"
        assert (body["wandb_project_name"], body["wandb_name"]) == ("sums", "first")
        with structlog.testing.capture_logs() as captured:
            job = await adapter.create_job(request)
        assert job.id
        assert captured  # the create was logged ...
        assert WANDB_KEY not in repr(captured)  # ... without the key
        assert WANDB_KEY not in repr(job)
    finally:
        await adapter.close()


async def test_wandb_key_from_a_systemd_credential_and_none_without_one(
    tmp_path: Path, emulator_root: str
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "wandb_api_key").write_text(WANDB_KEY + "\n")
    given = _settings_with_wandb(
        tmp_path, emulator_root, {"CREDENTIALS_DIRECTORY": str(credentials)}
    )
    key = given.provider.together.wandb_key
    assert key is not None
    assert key.get_secret_value() == WANDB_KEY
    # Without a key the W&B names of a run are not sent: W&B would refuse the run.
    bare = _open(tmp_path, emulator_root)
    try:
        request = JobRequest(
            model=LLAMA_8B,
            training_file="file-x",
            metadata={TAG_KEY: TAG},
            method={"type": "supervised", "supervised": {"hyperparameters": {}}},
            extra={"together": {"wandb_project_name": "sums", "wandb_api_key": "smuggled"}},
        )
        body = bare.job_body(request)
        assert not {k for k in body if k.startswith("wandb")}
    finally:
        await bare.close()


def test_a_wandb_key_in_a_configuration_or_sidecar_is_refused(tmp_path: Path) -> None:
    from ftd.config.together import TogetherRun
    from ftd.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        load_settings(
            env={"HOME": str(tmp_path), "TOGETHER_API_KEY": KEY},
            overrides={"provider": {"kind": "together", "together": {"wandb_api_key": "x"}}},
        )
    assert "wandb_api_key" in str(refused.value)
    assert "credential" in str(refused.value)
    with pytest.raises(ValueError, match="never written"):
        TogetherRun.model_validate({"wandb_api_key": "x"})
