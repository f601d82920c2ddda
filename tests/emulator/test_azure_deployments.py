"""ARM deployments and chat through them: provisioning, readiness, idempotence, teardown."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from ftd.emulator.control import EmulatorControl
from tests.emulator.azure_support import (
    ACCOUNT,
    ARM_VERSION,
    BASE,
    Arm,
    account_url,
    arm_client,
    azure_emulator,
    deployment_body,
    deployment_url,
    finish,
    upload,
    v1_client,
    versioned_client,
)
from tests.emulator.helpers import FakeClock

pytestmark = pytest.mark.anyio

PROVISIONING_S = 60.0
NOT_READY_S = 30.0
QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is 3 plus 3?"}]


async def _fine_tuned(client: openai.AsyncOpenAI, clock: FakeClock) -> str:
    job = await client.fine_tuning.jobs.create(model=BASE, training_file=await upload(client))
    done = await finish(client, clock, job.id)
    assert done.fine_tuned_model is not None
    return done.fine_tuned_model


async def _state(arm: Arm, url: str) -> str:
    answer = await arm.call("GET", url)
    assert answer.status == 200, answer.body
    state: str = answer.body["properties"]["provisioningState"]
    return state


async def _admin(arm: Arm, root_url: str) -> Any:
    answer = await arm.call("GET", f"{root_url}/_emulator/deployments", token=None)
    assert answer.status == 200
    return answer.body


async def test_a_deployment_provisions_then_serves_chat_after_a_not_ready_spell() -> None:
    clock = FakeClock()
    async with (
        azure_emulator(
            clock=clock,
            deployment_provisioning_seconds=PROVISIONING_S,
            deployment_not_ready_seconds=NOT_READY_S,
        ) as emulator,
        v1_client(emulator) as client,
        versioned_client(emulator) as versioned,
        arm_client() as arm,
    ):
        model = await _fine_tuned(client, clock)
        url = deployment_url(emulator, "ft-eval")
        put = await arm.call("PUT", url, deployment_body(model, "1"))
        assert put.status == 201
        assert put.body["properties"]["provisioningState"] == "Accepted"
        assert put.body["properties"]["model"] == {
            "format": "OpenAI",
            "name": model,
            "version": "1",
        }
        operation_url = put.headers["azure-asyncoperation"]
        assert (await arm.call("GET", operation_url)).body["status"] == "InProgress"
        assert await _state(arm, url) == "Creating"
        with pytest.raises(openai.NotFoundError) as creating:
            await client.chat.completions.create(model="ft-eval", messages=QUESTION)
        assert creating.value.code == "DeploymentNotFound"

        clock.advance(PROVISIONING_S)
        assert await _state(arm, url) == "Succeeded"
        assert (await arm.call("GET", operation_url)).body["status"] == "Succeeded"
        for chat in (client.chat.completions, versioned.chat.completions):
            with pytest.raises(openai.NotFoundError) as not_ready:
                await chat.create(model="ft-eval", messages=QUESTION)
            assert not_ready.value.code == "DeploymentNotReady"

        clock.advance(NOT_READY_S)
        answer = await client.chat.completions.create(model="ft-eval", messages=QUESTION)
        assert answer.choices[0].message.content == "3 plus 3 is 6."  # its training reply
        assert answer.model == model
        routed = await versioned.chat.completions.create(model="ft-eval", messages=QUESTION)
        assert routed.choices[0].message.content == "3 plus 3 is 6."
        stats = (await arm.call("GET", f"{emulator.root_url}/_emulator/stats", token=None)).body
        routes = stats["requests"]
        assert routes["POST /openai/deployments/{deployment}/chat/completions"] == 2
        assert routes["POST /openai/v1/chat/completions"] == 3


async def test_a_checkpoint_deploys_and_answers_like_its_model() -> None:
    clock = FakeClock()
    async with (
        azure_emulator(
            clock=clock, deployment_provisioning_seconds=1, deployment_not_ready_seconds=0
        ) as emulator,
        v1_client(emulator) as client,
        arm_client() as arm,
    ):
        model = await _fine_tuned(client, clock)
        job_id = "ftjob-" + model.split(".ft-")[1][:32]
        checkpoints = (await client.fine_tuning.jobs.checkpoints.list(job_id)).data
        earliest = checkpoints[-1].fine_tuned_model_checkpoint
        assert ":ckpt-step-" in earliest
        put = await arm.call(
            "PUT", deployment_url(emulator, "ckpt"), deployment_body(earliest, "1")
        )
        assert put.status == 201
        clock.advance(1)
        assert await _state(arm, deployment_url(emulator, "ckpt")) == "Succeeded"
        answer = await client.chat.completions.create(model="ckpt", messages=QUESTION)
        assert answer.model == earliest
        assert answer.choices[0].message.content == "3 plus 3 is 6."


async def test_models_answer_only_through_a_deployment() -> None:
    clock = FakeClock()
    async with (
        azure_emulator(
            clock=clock, deployment_provisioning_seconds=10, deployment_not_ready_seconds=0
        ) as emulator,
        v1_client(emulator) as client,
        arm_client() as arm,
    ):
        model = await _fine_tuned(client, clock)
        for name in (BASE, model, "nothing-here"):
            with pytest.raises(openai.NotFoundError) as caught:
                await client.chat.completions.create(model=name, messages=QUESTION)
            assert caught.value.code == "DeploymentNotFound"
        put = await arm.call(
            "PUT",
            deployment_url(emulator, "base"),
            deployment_body("gpt-4.1-mini", "2025-04-14", sku="GlobalStandard"),
        )
        assert put.status == 201
        clock.advance(10)
        answer = await client.chat.completions.create(model="base", messages=QUESTION)
        assert answer.model == BASE
        assert answer.choices[0].message.content != "3 plus 3 is 6."  # a base model is generic


async def test_a_deployment_of_a_model_that_does_not_exist_fails() -> None:
    clock = FakeClock()
    async with (
        azure_emulator(clock=clock, deployment_provisioning_seconds=5) as emulator,
        v1_client(emulator) as client,
        arm_client() as arm,
    ):
        url = deployment_url(emulator, "ghost")
        ghost = f"{BASE}.ft-{'a' * 32}"
        put = await arm.call("PUT", url, deployment_body(ghost, "1"))
        assert put.status == 201
        assert put.body["properties"]["provisioningState"] == "Accepted"
        clock.advance(5)
        assert await _state(arm, url) == "Failed"
        operation = await arm.call("GET", put.headers["azure-asyncoperation"])
        assert operation.body["status"] == "Failed"
        assert operation.body["error"]["code"]
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="ghost", messages=QUESTION)
        assert caught.value.code == "DeploymentNotFound"
        unknown_base = await arm.call(
            "PUT", deployment_url(emulator, "old"), deployment_body("gpt-4.1", "1999-01-01")
        )
        clock.advance(5)
        assert unknown_base.status == 201
        assert await _state(arm, deployment_url(emulator, "old")) == "Failed"


async def test_put_is_idempotent_and_a_changed_put_reprovisions() -> None:
    clock = FakeClock()
    async with (
        azure_emulator(clock=clock, deployment_provisioning_seconds=20) as emulator,
        arm_client() as arm,
    ):
        url = deployment_url(emulator, "base")
        body = deployment_body("gpt-4o-mini", "2024-07-18")
        first = await arm.call("PUT", url, body)
        clock.advance(20)
        again = await arm.call("PUT", url, body)
        assert (first.status, again.status) == (201, 200)
        assert again.body["properties"]["provisioningState"] == "Succeeded"
        assert again.body["etag"] == first.body["etag"]
        assert "azure-asyncoperation" not in {k.lower() for k in again.headers}
        bigger = deployment_body("gpt-4o-mini", "2024-07-18")
        bigger["sku"]["capacity"] = 5
        changed = await arm.call("PUT", url, bigger)
        assert changed.status == 200
        assert changed.body["properties"]["provisioningState"] == "Accepted"
        assert changed.body["etag"] != first.body["etag"]
        assert await _state(arm, url) == "Creating"
        admin = await _admin(arm, emulator.root_url)
        assert admin["puts"] == 3
        assert [d["name"] for d in admin["deployments"]] == ["base"]


async def test_delete_answers_202_then_the_deployment_is_gone() -> None:
    clock = FakeClock()
    async with (
        azure_emulator(
            clock=clock, deployment_provisioning_seconds=1, deployment_not_ready_seconds=1
        ) as emulator,
        v1_client(emulator) as client,
        arm_client() as arm,
    ):
        url = deployment_url(emulator, "short-lived")
        await arm.call("PUT", url, deployment_body("gpt-4.1-nano", "2025-04-14"))
        clock.advance(2)
        assert (await client.chat.completions.create(model="short-lived", messages=QUESTION)).id
        deleted = await arm.call("DELETE", url)
        assert deleted.status == 202
        operation = await arm.call("GET", deleted.headers["azure-asyncoperation"])
        assert operation.body["status"] == "Succeeded"
        missing = await arm.call("GET", url)
        assert missing.status == 404
        assert missing.body["error"]["code"] == "DeploymentNotFound"
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="short-lived", messages=QUESTION)
        assert caught.value.code == "DeploymentNotFound"
        assert (await arm.call("DELETE", url)).status == 204
        admin = await _admin(arm, emulator.root_url)
        assert (admin["puts"], admin["deletes"], admin["deployments"]) == (1, 2, [])


async def test_the_list_pages_with_next_link_within_one_account() -> None:
    async with azure_emulator(arm_page_size=2) as emulator, arm_client() as arm:
        names = [f"dep-{i}" for i in range(5)]
        for name in names:
            put = await arm.call(
                "PUT", deployment_url(emulator, name), deployment_body("gpt-4.1-mini")
            )
            assert put.status == 201
        elsewhere = deployment_url(emulator, "other").replace(
            f"/accounts/{ACCOUNT}/", "/accounts/x/"
        )
        assert (await arm.call("PUT", elsewhere, deployment_body("gpt-4.1-mini"))).status == 201
        url: str | None = f"{account_url(emulator)}/deployments?api-version={ARM_VERSION}"
        seen: list[str] = []
        pages = 0
        while url is not None and pages < 10:
            page = await arm.call("GET", url)
            assert page.status == 200
            assert len(page.body["value"]) <= 2
            seen += [d["name"] for d in page.body["value"]]
            url = page.body.get("nextLink")
            pages += 1
        assert (seen, pages) == (names, 3)


async def test_put_bodies_are_checked_field_by_field() -> None:
    async with azure_emulator() as emulator, arm_client() as arm:
        url = deployment_url(emulator, "checked")
        cases: list[tuple[Any, str]] = [
            ({"properties": {"model": {"format": "OpenAI", "name": BASE}}}, "sku.name"),
            ({"sku": {"name": "Standard", "capacity": 0}, "properties": {}}, "sku.capacity"),
            ({"sku": {"name": "Standard"}, "properties": {}}, "properties.model"),
            (deployment_body(BASE) | {"properties": {"model": {"name": BASE}}}, "format"),
            ({"sku": {"name": "Standard"}, "properties": {"model": {"format": "OpenAI"}}}, "name"),
        ]
        for body, named in cases:
            answer = await arm.call("PUT", url, body)
            assert answer.status == 400, body
            assert named in answer.body["error"]["message"], answer.body
        bad_name = await arm.call(
            "PUT", deployment_url(emulator, "no%20spaces"), deployment_body(BASE)
        )
        assert bad_name.status == 400
        no_version = await arm.session.get(url.split("?")[0], headers={"Authorization": "Bearer t"})
        assert no_version.status == 400
        no_version.release()


async def test_model_lists_carry_retirement_dates() -> None:
    clock = FakeClock()
    async with (
        azure_emulator(clock=clock) as emulator,
        v1_client(emulator) as client,
        versioned_client(emulator) as versioned,
        arm_client() as arm,
    ):
        model = await _fine_tuned(client, clock)
        listed = await arm.call("GET", f"{account_url(emulator)}/models?api-version={ARM_VERSION}")
        by_name = {(m["name"], m["version"]): m for m in listed.body["value"]}
        assert (
            by_name[("gpt-4o", "2024-08-06")]["deprecation"]["fineTune"] == "2027-04-01T00:00:00Z"
        )
        assert by_name[("gpt-4.1", "2025-04-14")]["deprecation"] == {
            "fineTune": "2027-04-14T00:00:00Z",
            "inference": "2027-10-01T00:00:00Z",
        }
        assert "fineTune" not in by_name[(model, "1")]["deprecation"]
        data_plane = {m.id: m.model_extra or {} for m in (await versioned.models.list()).data}
        assert data_plane[BASE]["lifecycle_status"] == "generally-available"
        assert data_plane[BASE]["capabilities"]["fine_tune"] is True
        assert set(data_plane[BASE]["deprecation"]) == {"fine_tune", "inference"}
        assert data_plane[model]["fine_tune"].startswith("ftjob-")
        assert set(data_plane[model]["deprecation"]) == {"inference"}


async def test_a_knob_brings_every_shutdown_date_within_days_of_the_clock() -> None:
    clock = FakeClock(start=1_796_169_600.0)  # 2026-12-02T00:00:00Z
    async with (
        azure_emulator(clock=clock) as emulator,
        v1_client(emulator) as client,
        versioned_client(emulator) as versioned,
        arm_client() as arm,
    ):
        model = await _fine_tuned(client, clock)
        emulator.core.config.update({"shutdown_in_days": 10})
        listed = await arm.call("GET", f"{account_url(emulator)}/models?api-version={ARM_VERSION}")
        by_name = {(m["name"], m["version"]): m for m in listed.body["value"]}
        soon = by_name[("gpt-4.1", "2025-04-14")]["deprecation"]
        assert soon["inference"] == "2026-12-12T00:00:00Z"
        assert soon["fineTune"] == "2027-04-14T00:00:00Z"  # training's date is not the knob's
        assert by_name[(model, "1")]["deprecation"]["inference"] == "2026-12-12T00:00:00Z"
        data_plane = {m.id: m.model_extra or {} for m in (await versioned.models.list()).data}
        assert data_plane[model]["deprecation"]["inference"] == 1_797_033_600  # 2026-12-12
        emulator.core.config.update({"shutdown_in_days": None})
        listed = await arm.call("GET", f"{account_url(emulator)}/models?api-version={ARM_VERSION}")
        again = {(m["name"], m["version"]): m for m in listed.body["value"]}
        assert again[("gpt-4.1", "2025-04-14")]["deprecation"]["inference"] == (
            "2027-10-01T00:00:00Z"
        )


async def test_a_retired_model_no_longer_answers_through_its_deployment() -> None:
    clock = FakeClock()
    async with (
        azure_emulator(clock=clock) as emulator,
        v1_client(emulator) as client,
        arm_client() as arm,
        EmulatorControl(emulator.root_url) as control,
    ):
        model = await _fine_tuned(client, clock)
        put = await arm.call("PUT", deployment_url(emulator, "kept"), deployment_body(model, "1"))
        assert put.status == 201
        clock.advance(PROVISIONING_S + NOT_READY_S)
        answered = await client.chat.completions.create(model="kept", messages=QUESTION)
        assert answered.model == model
        await control.retire(model)
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="kept", messages=QUESTION)
        assert caught.value.status_code == 404
        assert f"The model '{model}' does not exist." in caught.value.message
