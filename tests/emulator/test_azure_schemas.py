"""Every kind of answer of the Azure flavour validates against the Azure spec declaring it."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.emulator import azure_schemas
from tests.emulator.azure_support import (
    ARM_VERSION,
    BASE,
    EXPIRES,
    KEY,
    account_url,
    arm_client,
    azure_emulator,
    deployment_body,
    deployment_url,
    finish,
    until_trained,
    upload,
    v1_client,
    versioned_client,
)
from tests.emulator.helpers import FakeClock, chat_dataset

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not azure_schemas.available(), reason="the Azure specs are not present"),
]

ARM_DEPLOYMENT = (
    "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/"
    "Microsoft.CognitiveServices/accounts/{accountName}/deployments/{deploymentName}"
)
ARM_DEPLOYMENTS = ARM_DEPLOYMENT.removesuffix("/{deploymentName}")
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]
ARM_MODELS = ARM_DEPLOYMENTS.removesuffix("/deployments") + "/models"


def admit_v1_extensions(schemas: Any) -> None:
    """Relaxation: v1 has /pause and /resume, but its job status enum lacks ``paused``
    (OpenAI.FineTuningJob/properties/status/enum; differences.md, "Job object")."""
    status = schemas.component("OpenAI.FineTuningJob")["properties"]["status"]
    if "paused" not in status["enum"]:
        status["enum"] = [*status["enum"], "paused"]


class Collected:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, str, str, Any]] = []  # spec, method, path, status, body

    def add(self, spec: str, method: str, path: str, raw: Any, status: str = "200") -> Any:
        body = json.loads(raw.content)
        assert str(raw.status_code) == status, (path, raw.status_code, body)
        self.items.append((spec, method, path, status, body))
        return body

    def add_body(self, spec: str, method: str, path: str, status: int | str, body: Any) -> Any:
        self.items.append((spec, method, path, str(status), body))
        return body

    def problems(self) -> list[str]:
        v1 = azure_schemas.v1()
        admit_v1_extensions(v1)
        found = []
        for spec, method, path, status, body in self.items:
            if spec == "v1":
                schema = v1.response_schema(method, path, status)
                errors = v1.errors(schema, body)
            else:
                schemas = azure_schemas.authoring() if spec == "authoring" else azure_schemas.arm()
                if path == "operation":
                    schema = schemas.definition("common.AsyncOperationStatus")
                else:
                    schema = schemas.response_schema(method, path, status)
                errors = schemas.errors(schema, body)
            found += [f"{spec} {method} {path} {status}: {e}" for e in errors]
        return found


async def _plain(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with session.get(url, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_every_answer_matches_its_spec() -> None:
    clock = FakeClock()
    got = Collected()
    async with (
        azure_emulator(clock=clock, deployment_provisioning_seconds=60) as emulator,
        v1_client(emulator) as v1,
        versioned_client(emulator) as versioned,
        arm_client() as arm,
    ):
        # -- v1 data plane ----------------------------------------------------------
        raw = await v1.files.with_raw_response.create(
            file=("t.jsonl", chat_dataset(12), "application/jsonl"),
            purpose="fine-tune",
            expires_after=EXPIRES,
        )
        training = got.add("v1", "POST", "/files", raw)["id"]
        got.add("v1", "GET", "/files", await v1.files.with_raw_response.list())
        got.add("v1", "GET", "/files", await v1.files.with_raw_response.list(purpose="batch"))
        got.add(
            "v1", "GET", "/files/{file_id}", await v1.files.with_raw_response.retrieve(training)
        )
        jobs = v1.fine_tuning.jobs
        raw_job = await jobs.with_raw_response.create(
            model=BASE,
            training_file=training,
            suffix="schema",
            metadata={"tag": "t1"},
            extra_body={"trainingType": "globalStandard"},
        )
        job = got.add("v1", "POST", "/fine_tuning/jobs", raw_job)
        path = "/fine_tuning/jobs/{fine_tuning_job_id}"
        got.add("v1", "GET", path, await jobs.with_raw_response.retrieve(job["id"]))
        await until_trained(v1, clock, job["id"])
        got.add("v1", "POST", path + "/pause", await jobs.with_raw_response.pause(job["id"]))
        got.add("v1", "GET", path, await jobs.with_raw_response.retrieve(job["id"]))
        got.add("v1", "POST", path + "/resume", await jobs.with_raw_response.resume(job["id"]))
        await finish(v1, clock, job["id"])
        got.add("v1", "GET", path, await jobs.with_raw_response.retrieve(job["id"]))
        got.add("v1", "GET", "/fine_tuning/jobs", await jobs.with_raw_response.list(limit=5))
        got.add("v1", "GET", path + "/events", await jobs.with_raw_response.list_events(job["id"]))
        got.add(
            "v1",
            "GET",
            path + "/checkpoints",
            await jobs.checkpoints.with_raw_response.list(job["id"]),
        )
        other = await jobs.create(model=BASE, training_file=training)
        got.add("v1", "POST", path + "/cancel", await jobs.with_raw_response.cancel(other.id))
        got.add("v1", "GET", "/models", await v1.models.with_raw_response.list())
        final = (await jobs.retrieve(job["id"])).fine_tuned_model
        assert final is not None
        got.add("v1", "GET", "/models/{model}", await v1.models.with_raw_response.retrieve(final))
        got.add("v1", "GET", "/models/{model}", await v1.models.with_raw_response.retrieve(BASE))
        content = await v1.files.with_raw_response.content(training)
        assert content.status_code == 200
        scratch = await upload(v1, name="scratch.jsonl")
        got.add(
            "v1", "DELETE", "/files/{file_id}", await v1.files.with_raw_response.delete(scratch)
        )

        # -- ARM ----------------------------------------------------------------------
        put = await arm.call("PUT", deployment_url(emulator, "ft"), deployment_body(final, "1"))
        got.add_body("arm", "PUT", ARM_DEPLOYMENT, put.status, put.body)
        base_put = await arm.call(
            "PUT", deployment_url(emulator, "base"), deployment_body("gpt-4.1-mini", "2025-04-14")
        )
        got.add_body("arm", "PUT", ARM_DEPLOYMENT, base_put.status, base_put.body)
        creating = await arm.call("GET", deployment_url(emulator, "ft"))
        got.add_body("arm", "GET", ARM_DEPLOYMENT, creating.status, creating.body)
        operation = await arm.call("GET", put.headers["azure-asyncoperation"])
        got.add_body("arm", "GET", "operation", operation.status, operation.body)
        clock.advance(300)
        done = await arm.call("GET", deployment_url(emulator, "ft"))
        got.add_body("arm", "GET", ARM_DEPLOYMENT, done.status, done.body)
        same = await arm.call("PUT", deployment_url(emulator, "ft"), deployment_body(final, "1"))
        got.add_body("arm", "PUT", ARM_DEPLOYMENT, same.status, same.body)
        operation = await arm.call("GET", put.headers["azure-asyncoperation"])
        got.add_body("arm", "GET", "operation", operation.status, operation.body)
        listed = await arm.call(
            "GET", f"{account_url(emulator)}/deployments?api-version={ARM_VERSION}"
        )
        got.add_body("arm", "GET", ARM_DEPLOYMENTS, listed.status, listed.body)
        models = await arm.call("GET", f"{account_url(emulator)}/models?api-version={ARM_VERSION}")
        got.add_body("arm", "GET", ARM_MODELS, models.status, models.body)
        missing = await arm.call("GET", deployment_url(emulator, "absent"))
        assert missing.status == 404
        got.add_body("arm", "GET", ARM_DEPLOYMENT, "default", missing.body)
        unauthorised = await arm.call("GET", deployment_url(emulator, "ft"), token=None)
        assert unauthorised.status == 401
        got.add_body("arm", "GET", ARM_DEPLOYMENT, "default", unauthorised.body)
        failing = await arm.call(
            "PUT", deployment_url(emulator, "bad"), {"sku": {}, "properties": {}}
        )
        assert failing.status == 400
        got.add_body("arm", "PUT", ARM_DEPLOYMENT, "default", failing.body)

        # -- v1 chat and errors -----------------------------------------------------------
        raw_chat = await v1.chat.completions.with_raw_response.create(
            model="ft", messages=[{"role": "user", "content": "What is 3 plus 3?"}]
        )
        got.add("v1", "POST", "/chat/completions", raw_chat)
        refusals = (
            ("/chat/completions", "POST", v1.chat.completions.create(model="absent", messages=HI)),
            (path, "GET", jobs.retrieve("ftjob-" + "0" * 32)),
            (
                "/fine_tuning/jobs",
                "POST",
                jobs.create(model=BASE, training_file=training, suffix="x" * 41),
            ),
        )
        for route, method, call in refusals:
            with pytest.raises(openai.APIStatusError) as caught:
                await call
            got.add_body("v1", method, route, "default", {"error": caught.value.body})

        # -- authoring (api-version) data plane ---------------------------------------------
        raw = await versioned.files.with_raw_response.create(
            file=("a.jsonl", chat_dataset(12), "application/jsonl"), purpose="fine-tune"
        )
        versioned_file = got.add("authoring", "POST", "/files", raw, "201")["id"]
        got.add("authoring", "GET", "/files", await versioned.files.with_raw_response.list())
        got.add(
            "authoring",
            "GET",
            "/files/{file-id}",
            await versioned.files.with_raw_response.retrieve(versioned_file),
        )
        vjobs = versioned.fine_tuning.jobs
        raw_job = await vjobs.with_raw_response.create(
            model=BASE, training_file=versioned_file, extra_body={"trainingType": "standard"}
        )
        vjob = got.add("authoring", "POST", "/fine_tuning/jobs", raw_job, "201")
        vpath = "/fine_tuning/jobs/{fine-tuning-job-id}"
        got.add("authoring", "GET", vpath, await vjobs.with_raw_response.retrieve(vjob["id"]))
        await until_trained(versioned, clock, vjob["id"])
        got.add(
            "authoring", "POST", vpath + "/pause", await vjobs.with_raw_response.pause(vjob["id"])
        )
        got.add(
            "authoring", "POST", vpath + "/resume", await vjobs.with_raw_response.resume(vjob["id"])
        )
        await finish(versioned, clock, vjob["id"])
        got.add("authoring", "GET", vpath, await vjobs.with_raw_response.retrieve(vjob["id"]))
        got.add("authoring", "GET", "/fine_tuning/jobs", await vjobs.with_raw_response.list())
        got.add(
            "authoring",
            "GET",
            vpath + "/events",
            await vjobs.with_raw_response.list_events(vjob["id"]),
        )
        got.add(
            "authoring",
            "GET",
            vpath + "/checkpoints",
            await vjobs.checkpoints.with_raw_response.list(vjob["id"]),
        )
        third = await vjobs.create(model=BASE, training_file=versioned_file)
        got.add(
            "authoring", "POST", vpath + "/cancel", await vjobs.with_raw_response.cancel(third.id)
        )
        got.add("authoring", "GET", "/models", await versioned.models.with_raw_response.list())
        got.add(
            "authoring",
            "GET",
            "/models/{model-id}",
            await versioned.models.with_raw_response.retrieve(final),
        )
        got.add(
            "authoring",
            "GET",
            "/models/{model-id}",
            await versioned.models.with_raw_response.retrieve(BASE),
        )
        scratch = await upload(versioned, name="scratch2.jsonl")
        got.add(
            "authoring",
            "DELETE",
            "/files/{file-id}",
            await versioned.files.with_raw_response.delete(scratch),
        )
        # Chat at /openai/deployments/{d}/chat/completions: the authoring file declares no
        # such route, so its answer is checked against the v1 chat schema.
        raw_chat = await versioned.chat.completions.with_raw_response.create(
            model="base", messages=[{"role": "user", "content": "Say hello"}]
        )
        got.add("v1", "POST", "/chat/completions", raw_chat)
        with pytest.raises(openai.APIStatusError) as caught:
            await vjobs.retrieve("ftjob-" + "1" * 32)
        got.add_body("authoring", "GET", vpath, "default", {"error": caught.value.body})
        with pytest.raises(openai.NotFoundError) as missing_deployment:
            await versioned.chat.completions.create(model="absent", messages=HI)
        assert missing_deployment.value.code == "DeploymentNotFound"
        got.add_body(
            "v1", "POST", "/chat/completions", "default", {"error": missing_deployment.value.body}
        )
        async with aiohttp.ClientSession() as session:
            status, body = await _plain(
                session, f"{emulator.root_url}/openai/models?api-version=2025-04-01-preview", {}
            )
            assert status == 401
            got.add_body("authoring", "GET", "/models", "default", body)
            status, body = await _plain(session, f"{emulator.base_url}/models", {})
            assert status == 401
            got.add_body("v1", "GET", "/models", "default", body)
            status, body = await _plain(session, f"{emulator.base_url}/models", {"api-key": KEY})
            assert status == 200
    assert len(got.items) > 50
    assert got.problems() == []
