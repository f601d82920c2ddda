"""With ``--state``, the Azure flavour's deployments and training tiers outlive a restart."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from ftd.emulator.control import EmulatorControl
from tests.emulator.azure_support import (
    ARM_VERSION,
    BASE,
    account_url,
    arm_client,
    azure_emulator,
    deployment_body,
    deployment_url,
    finish,
    upload,
    v1_client,
)
from tests.emulator.helpers import FakeClock

pytestmark = pytest.mark.anyio

QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is 2 plus 2?"}]
DELAYS = {"deployment_provisioning_seconds": 30, "deployment_not_ready_seconds": 10}


async def test_deployments_and_tiers_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "azure.sqlite"
    clock = FakeClock()
    async with (
        azure_emulator(clock=clock, state_path=state, **DELAYS) as first,
        v1_client(first) as client,
        arm_client() as arm,
    ):
        job = await client.fine_tuning.jobs.create(
            model=BASE,
            training_file=await upload(client),
            suffix="kept",
            extra_body={"trainingType": "developerTier"},
        )
        model = (await finish(client, clock, job.id)).fine_tuned_model
        assert model is not None
        put = await arm.call("PUT", deployment_url(first, "kept"), deployment_body(model, "1"))
        assert put.status == 201
        await arm.call(
            "PUT", deployment_url(first, "gone"), deployment_body("gpt-4o", "2024-08-06")
        )
        operation_path = put.headers["azure-asyncoperation"].split(str(first.port), 1)[1]

    clock.advance(40)  # provisioned, and past the not-ready spell, while the emulator was down
    async with (
        azure_emulator(clock=clock, state_path=state, **DELAYS) as second,
        v1_client(second) as client,
        arm_client() as arm,
    ):
        again = await client.fine_tuning.jobs.retrieve(job.id)
        assert (again.model_extra or {})["trainingType"] == "developerTier"
        assert again.fine_tuned_model == model
        listed = await arm.call(
            "GET", f"{account_url(second)}/deployments?api-version={ARM_VERSION}"
        )
        assert sorted(d["name"] for d in listed.body["value"]) == ["gone", "kept"]
        kept = await arm.call("GET", deployment_url(second, "kept"))
        assert kept.body["properties"]["provisioningState"] == "Succeeded"
        operation = await arm.call("GET", second.root_url + operation_path)
        assert operation.body["status"] == "Succeeded"
        answer = await client.chat.completions.create(model="kept", messages=QUESTION)
        assert answer.choices[0].message.content == "2 plus 2 is 4."
        assert (await arm.call("DELETE", deployment_url(second, "gone"))).status == 202

    async with (
        azure_emulator(clock=clock, state_path=state, **DELAYS) as third,
        EmulatorControl(third.base_url) as control,  # the /openai/v1 base is stripped
    ):
        admin = await control.deployments()
        assert [d["name"] for d in admin["deployments"]] == ["kept"]
        assert (admin["puts"], admin["deletes"]) == (0, 0)  # counts are per run
        assert (await control.state())["persistent"] is True
        async with v1_client(third) as client:
            with pytest.raises(openai.NotFoundError):
                await client.chat.completions.create(model="gone", messages=QUESTION)
