"""The Together flavour: files, fine-tunes, estimates, limits, endpoints and chat, every
answer checked against Together's OpenAPI document (tests/emulator/together_schemas.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ftd.emulator.server import Emulator
from tests.emulator import together_schemas
from tests.emulator.helpers import FakeClock, chat_dataset, dpo_dataset, jsonl
from tests.emulator.together_support import (
    LLAMA_8B,
    LLAMA_70B,
    QWEN_72B,
    Together,
    together_emulator,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not together_schemas.available(), reason="the Together spec is not present"),
]


@pytest.fixture
async def emulator(clock: FakeClock) -> AsyncIterator[Emulator]:
    async with together_emulator(clock=clock, deployment_provisioning_seconds=60) as running:
        yield running


@pytest.fixture
async def api(emulator: Emulator) -> AsyncIterator[Together]:
    client = Together(emulator)
    yield client
    await client.close()
    assert client.checked > 0
    assert client.problems == [], "\n".join(client.problems)


async def _statuses(api: Together, clock: FakeClock, job_id: str, steps: int) -> list[str]:
    seen: list[str] = []
    for _ in range(steps):
        status = (await api.job(job_id)).body["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        clock.advance(0.1)
    return seen


async def _completed(api: Together, clock: FakeClock, job_id: str) -> dict[str, Any]:
    for _ in range(2000):
        body: dict[str, Any] = (await api.job(job_id)).body
        if body["status"] in ("completed", "error", "cancelled"):
            return body
        clock.advance(0.5)
    raise AssertionError(f"{job_id} did not finish")


async def test_sft_lora_job_walks_every_status_and_leaves_checkpoints_and_metrics(
    api: Together, clock: FakeClock
) -> None:
    upload = await api.upload(chat_dataset(20), "ftd-abc123.jsonl")
    assert upload.status == 200
    assert upload.body["filename"] == "ftd-abc123.jsonl"
    assert upload.body["id"].startswith("file-")
    created = await api.create_job(
        model=LLAMA_8B,
        training_file=upload.body["id"],
        n_epochs=2,
        n_checkpoints=2,
        batch_size=8,
        learning_rate=1e-4,
        suffix="ftd-abc123",
        lr_scheduler={"lr_scheduler_type": "cosine", "lr_scheduler_args": {"min_lr_ratio": 0.1}},
        training_type={"type": "Lora", "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05},
        training_method={"method": "sft", "train_on_inputs": "auto"},
    )
    assert created.status == 200, created.body
    job_id = created.body["id"]
    assert job_id.startswith("ft-")
    assert created.body["status"] == "pending"
    assert created.body["suffix"] == "ftd-abc123"
    seen = await _statuses(api, clock, job_id, 60)
    assert seen == ["pending", "queued", "running", "compressing", "uploading", "completed"]
    job = (await api.job(job_id)).body
    assert job["model_output_name"].endswith(
        "/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference-ftd-abc123-"
        + job["model_output_name"].rsplit("-", 1)[-1]
    )
    assert job["epochs_completed"] == 2
    kinds = [e["type"] for e in job["events"]]
    assert kinds[0] == "job_pending"
    assert kinds[-1] == "job_complete"
    assert "checkpoint_save" in kinds
    assert "model_compressing" in kinds
    events = await api.call("GET", "/fine-tunes/{id}/events", f"/fine-tunes/{job_id}/events")
    assert [e["type"] for e in events.body["data"]] == kinds
    checkpoints = await api.call(
        "GET", "/fine-tunes/{id}/checkpoints", f"/fine-tunes/{job_id}/checkpoints"
    )
    types = [c["checkpoint_type"] for c in checkpoints.body["data"]]
    assert types == ["Final Adapter", "Final Merged", "Intermediate"]
    assert checkpoints.body["data"][-1]["path"] == job["model_output_name"] + ":2"
    metrics = await api.call("GET", "/fine-tunes/{id}/metrics", f"/fine-tunes/{job_id}/metrics")
    rows = metrics.body["metrics"]
    assert [r["train/global_step"] for r in rows] == [1.0, 2.0, 3.0, 4.0, 5.0]
    window = await api.call(
        "GET",
        "/fine-tunes/{id}/metrics",
        f"/fine-tunes/{job_id}/metrics",
        json={"global_step_from": 2, "global_step_to": 3},
    )
    assert [r["train/global_step"] for r in window.body["metrics"]] == [2.0, 3.0]
    listed = await api.call("GET", "/fine-tunes")
    assert [j["id"] for j in listed.body["data"]] == [job_id]
    # A LoRA fine-tune of a base with serverless LoRA answers at once under its name.
    chat = await api.call(
        "POST",
        "/chat/completions",
        json={
            "model": job["model_output_name"],
            "messages": [{"role": "user", "content": "What is 3 plus 3?"}],
        },
    )
    assert chat.status == 200
    assert chat.body["choices"][0]["message"]["content"] == "3 plus 3 is 6."


async def test_dpo_and_full_training(api: Together, clock: FakeClock) -> None:
    upload = await api.upload(dpo_dataset(12), "prefs.jsonl")
    dpo = await api.create_job(
        model=LLAMA_70B,
        training_file=upload.body["id"],
        training_method={"method": "dpo", "dpo_beta": 0.2},
        training_type={"type": "Full"},
    )
    assert dpo.status == 200, dpo.body
    assert dpo.body["training_method"] == {"method": "dpo", "dpo_beta": 0.2}
    assert dpo.body["training_type"] == {"type": "Full"}
    done = await _completed(api, clock, dpo.body["id"])
    assert done["status"] == "completed"
    checkpoints = await api.call(
        "GET", "/fine-tunes/{id}/checkpoints", f"/fine-tunes/{dpo.body['id']}/checkpoints"
    )
    assert [c["checkpoint_type"] for c in checkpoints.body["data"]] == ["Final"]
    # A full fine-tune needs a dedicated endpoint: chat refuses it by name.
    refused = await api.call(
        "POST",
        "/chat/completions",
        json={"model": done["model_output_name"], "messages": [{"role": "user", "content": "hi"}]},
    )
    assert refused.status == 404
    assert "non-serverless" in refused.body["error"]["message"]


async def test_refusals_name_what_was_wrong(api: Together) -> None:
    upload = await api.upload(chat_dataset(10))
    file_id = upload.body["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"model": "gpt-4o-mini", "training_file": file_id}, "model"),
        ({"model": LLAMA_8B, "training_file": "file-missing"}, "training_file"),
        ({"model": LLAMA_8B, "training_file": file_id, "n_epochs": 0}, "n_epochs"),
        ({"model": LLAMA_8B, "training_file": file_id, "batch_size": 4}, "batch_size"),
        ({"model": LLAMA_8B, "training_file": file_id, "suffix": "x" * 41}, "suffix"),
        (
            {"model": QWEN_72B, "training_file": file_id, "training_type": {"type": "Full"}},
            "training_type",
        ),
        (
            {
                "model": LLAMA_8B,
                "training_file": file_id,
                "training_type": {"type": "Lora", "lora_r": 999, "lora_alpha": 8},
            },
            "lora_r",
        ),
        ({"model": LLAMA_8B, "training_file": file_id, "n_evals": 2}, "n_evals"),
    ]
    for body, param in cases:
        answer = await api.create_job(**body)
        assert answer.status == 400, (body, answer.body)
        error = answer.body["error"]
        assert param in (error["param"] or "") + error["message"], (param, error)
    assert "gpt-4o-mini" in (await api.create_job(**cases[0][0])).body["error"]["message"]


async def test_supported_models_limits_and_price_estimate(api: Together) -> None:
    supported = await api.call("GET", "/fine-tunes/models/supported")
    assert LLAMA_8B in supported.body["models"]
    limits = await api.call("GET", "/fine-tunes/models/limits", params={"model_name": QWEN_72B})
    assert limits.status == 200
    assert "full_training" not in limits.body
    assert limits.body["lora_training"]["max_rank"] == 64
    unknown = await api.call(
        "GET", "/fine-tunes/models/limits", params={"model_name": "gpt-4o-mini"}
    )
    assert unknown.status == 404
    assert "gpt-4o-mini" in unknown.body["message"]
    upload = await api.upload(chat_dataset(20))
    one = await api.call(
        "POST",
        "/fine-tunes/estimate-price",
        json={"model": LLAMA_8B, "training_file": upload.body["id"], "n_epochs": 1},
    )
    three = await api.call(
        "POST",
        "/fine-tunes/estimate-price",
        json={"model": LLAMA_8B, "training_file": upload.body["id"], "n_epochs": 3},
    )
    assert one.body["estimated_train_token_count"] > 0
    assert three.body["estimated_train_token_count"] == 3 * one.body["estimated_train_token_count"]
    assert three.body["estimated_total_price"] == pytest.approx(
        3 * one.body["estimated_total_price"], rel=1e-3
    )
    assert one.body["allowed_to_proceed"] is True


async def test_cancel_shows_cancel_requested_then_cancelled(
    api: Together, clock: FakeClock
) -> None:
    upload = await api.upload(chat_dataset(40))
    job = await api.create_job(
        model=LLAMA_8B, training_file=upload.body["id"], n_epochs=3, batch_size=8
    )
    clock.advance(2.2)
    assert (await api.job(job.body["id"])).body["status"] == "running"
    path = f"/fine-tunes/{job.body['id']}/cancel"
    cancelled = await api.call("POST", "/fine-tunes/{id}/cancel", path)
    assert cancelled.status == 200
    assert cancelled.body["status"] == "cancel_requested"
    clock.advance(3)
    body = (await api.job(job.body["id"])).body
    assert body["status"] == "cancelled"
    assert [e["type"] for e in body["events"]][-2:] == ["cancel_requested", "job_stopped"]
    again = await api.call("POST", "/fine-tunes/{id}/cancel", path)
    assert again.status == 400


async def test_a_refused_dataset_ends_the_job_in_error(api: Together, clock: FakeClock) -> None:
    bad = jsonl([{"messages": [{"role": "user", "content": "no answer"}]}] * 12)
    upload = await api.upload(bad)
    job = await api.create_job(model=LLAMA_8B, training_file=upload.body["id"])
    assert job.status == 200
    done = await _completed(api, clock, job.body["id"])
    assert done["status"] == "error"
    assert done["events"][-1]["type"] == "job_error"
    assert done["events"][-1]["level"] == "error"


async def test_dedicated_endpoint_life_and_chat(api: Together, clock: FakeClock) -> None:
    upload = await api.upload(chat_dataset(10))
    job = await api.create_job(model=LLAMA_70B, training_file=upload.body["id"])
    done = await _completed(api, clock, job.body["id"])
    model = done["model_output_name"]
    prompt = {"model": model, "messages": [{"role": "user", "content": "What is 2 plus 2?"}]}
    refused = await api.call("POST", "/chat/completions", json=prompt)
    assert refused.status == 404  # 70B has no serverless LoRA
    created = await api.call(
        "POST",
        "/endpoints",
        json={
            "model": model,
            "hardware": "2x_nvidia_h100_80gb_sxm",
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
            "display_name": "ftd evaluation",
        },
    )
    assert created.status == 200, created.body
    endpoint = created.body
    assert endpoint["state"] == "PENDING"
    path = f"/endpoints/{endpoint['id']}"
    served = {**prompt, "model": endpoint["name"]}
    early = await api.call("POST", "/chat/completions", json=served)
    assert early.status == 503
    clock.advance(30)
    assert (await api.call("GET", "/endpoints/{endpointId}", path)).body["state"] == "STARTING"
    clock.advance(31)
    assert (await api.call("GET", "/endpoints/{endpointId}", path)).body["state"] == "STARTED"
    answer = await api.call("POST", "/chat/completions", json=served)
    assert answer.status == 200
    assert answer.body["choices"][0]["message"]["content"] == "2 plus 2 is 4."
    listed = await api.call("GET", "/endpoints", params={"type": "dedicated"})
    assert [e["id"] for e in listed.body["data"]] == [endpoint["id"]]
    hardware = await api.call("GET", "/hardware")
    assert any(h["id"] == "2x_nvidia_h100_80gb_sxm" for h in hardware.body["data"])
    deleted = await api.call("DELETE", "/endpoints/{endpointId}", path)
    assert deleted.status == 204
    gone = await api.call("GET", "/endpoints/{endpointId}", path)
    assert gone.status == 404


async def test_base_chat_files_and_auth(api: Together, emulator: Emulator) -> None:
    chat = await api.call(
        "POST",
        "/chat/completions",
        json={"model": LLAMA_8B, "messages": [{"role": "user", "content": "Tell me a fact"}]},
    )
    assert chat.status == 200
    assert chat.body["model"] == LLAMA_8B
    upload = await api.upload(chat_dataset(3), "x.jsonl")
    file_id = upload.body["id"]
    assert (await api.call("GET", "/files")).body["data"][0]["id"] == file_id
    one = await api.call("GET", "/files/{id}", f"/files/{file_id}")
    assert one.body["bytes"] == len(chat_dataset(3))
    content = await api.call("GET", "/files/{id}/content", f"/files/{file_id}/content")
    assert content.body == chat_dataset(3)
    deleted = await api.call("DELETE", "/files/{id}", f"/files/{file_id}")
    assert deleted.body == {"id": file_id, "deleted": True}
    anonymous = Together(emulator, key=None)
    try:
        refused = await anonymous.call("GET", "/fine-tunes")
    finally:
        await anonymous.close()
    assert refused.status == 401
    assert anonymous.problems == []


async def test_jobs_and_endpoints_survive_a_restart(tmp_path: Any, clock: FakeClock) -> None:
    state = tmp_path / "state.sqlite"
    async with together_emulator(clock=clock, state_path=state) as first:
        api = Together(first)
        upload = await api.upload(chat_dataset(10))
        job = await api.create_job(model=LLAMA_8B, training_file=upload.body["id"], suffix="s")
        await api.close()
    clock.advance(1000)
    async with together_emulator(clock=clock, state_path=state) as second:
        api = Together(second)
        body = (await api.job(job.body["id"])).body
        await api.close()
    assert body["status"] == "completed"
    assert body["suffix"] == "s"
    assert api.problems == []
